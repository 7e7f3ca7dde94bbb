"""Both backends start the reference consumer with the same `--defect NAME` (none: no flag)."""

from __future__ import annotations

from runner.backends.base import ConsumerSettings, defect_arguments
from runner.backends.docker_topology import consumer_command
from runner.consumers.defects import MUTANTS, ConsumerDefect, parse_defect
from runner.pins import default_pin_path, load_pin


def test_each_mutant_reaches_the_consumer_container_command_and_the_healthy_one_adds_nothing() -> (
    None
):
    pin = load_pin(default_pin_path("v0.4.0"))
    healthy = consumer_command(ConsumerSettings(pin=pin))
    assert "--defect" not in healthy  # an image older than the defects still starts healthy
    for defect in MUTANTS:
        settings = ConsumerSettings(pin=pin, defect=defect)
        command = consumer_command(settings)
        assert command[: len(healthy)] == healthy
        assert command[len(healthy) :] == ["--defect", defect.value] == defect_arguments(settings)
        assert parse_defect(command[-1], "--defect") is defect
    assert ConsumerDefect.NONE not in MUTANTS
