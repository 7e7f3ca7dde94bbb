"""Scenario files: the shipped ones, and bad ones of every kind (one line naming file and field, exit 2, nothing started)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app
from runner.loader import DrillFilesInvalid
from runner.rehearsal.catalog import choose_scenario, default_scenarios_dir, load_scenarios
from runner.rehearsal.scenario import StepKind, resolve_scenario
from runner.spec import LatencyFault, ResponderFault
from tests.rehearsal.factory import REPO, SCENARIO_TEXT, scenario

runner = CliRunner()


def _variant(old: str, new: str) -> str:
    assert old in SCENARIO_TEXT
    return SCENARIO_TEXT.replace(old, new)


def test_the_shipped_scenarios_cover_the_four_incidents_the_playbook_names() -> None:
    shipped = {s.scenario.name: s.scenario for s in load_scenarios([default_scenarios_dir()])}
    offline = shipped["memorykernel-offline-surge"]
    assert [s.fault.kind for s in offline.incident] == ["kill"]
    assert offline.surge_rate_hz is not None and offline.surge_rate_hz > 25
    rollback = shipped["bad-deploy-cross-contract-rollback"]
    assert rollback.fix_step is StepKind.REVERT_TRIO
    malformed = shipped["malformed-after-upgrade"]
    assert [r.value for r in malformed.expect.fallback_reasons] == ["malformed-payload"]
    at = [s.at_s for s in malformed.incident]
    assert len(at) > len(set(at)) and len(set(at)) > 1  # two at once, and one after another
    unannounced = shipped["unannounced-error-code"]
    (fault,) = [s.fault for s in unannounced.incident]
    assert isinstance(fault, ResponderFault) and "quota_exceeded" in fault.mode
    assert unannounced.expect.machine_error_codes == ["quota_exceeded"]
    for each in shipped.values():  # the playbook's checklist, in its order
        kinds = [s.step for s in each.checklist]
        assert kinds[0] is StepKind.FREEZE and kinds[-1] is StepKind.SUMMARY
        assert StepKind.CONTRACT in kinds


def test_validate_checks_drills_and_scenarios() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert "drill files valid" in result.output and "4 scenario files valid" in result.output


def test_faults_relative_to_the_consumer_timeout_resolve() -> None:
    shipped = {s.scenario.name: s.scenario for s in load_scenarios([default_scenarios_dir()])}
    resolved = resolve_scenario(shipped["malformed-after-upgrade"], 500)
    latency = next(s.fault for s in resolved.incident if isinstance(s.fault, LatencyFault))
    assert latency.latency_ms == 100


CASES = [
    ("unknown field", _variant("budget_s: 10", "budget_s: 10\nbudget: 5"), "budget: unknown field"),
    (
        "unknown fault kind",
        _variant("{kind: stop}", "{kind: meteor}"),
        "incident[0].fault.kind: unknown fault kind 'meteor'",
    ),
    (
        "bad fault field",
        _variant("{kind: stop}", "{kind: latency, latency_ms: -5}"),
        "incident[0].fault.latency_ms: must be greater than 0",
    ),
    (
        "relative field out of range",
        _variant("{kind: stop}", "{kind: latency, latency_ms: 5 * timeout}"),
        "incident[0].fault.latency_ms: 5 * timeout is 150000 ms at a 30000 ms consumer timeout",
    ),
    (
        "nothing injected",
        _variant("{kind: stop}", "{kind: none}"),
        "fault.kind: 'none' injects nothing",
    ),
    (
        "two fixes",
        _variant(
            "  - {step: summary,", "  - {step: revert_trio, title: Revert}\n  - {step: summary,"
        ),
        "checklist: list exactly one fix step (remove_faults or revert_trio); found 2",
    ),
    (
        "no fix",
        _variant("  - {step: remove_faults, title: Bring MemoryKernel back}\n", ""),
        "found 0",
    ),
    (
        "a step twice",
        _variant(
            "  - {step: freeze, title: Freeze baseline upgrades}\n",
            "  - {step: summary, title: Publish}\n  - {step: freeze, title: Freeze baseline upgrades}\n",
        ),
        "checklist: step 'summary' is listed twice",
    ),
    (
        "contract before the fix",
        _variant(
            "  - {step: remove_faults,",
            "  - {step: contract, title: Re-run}\n  - {step: remove_faults,",
        ),
        "checklist: the contract re-run comes after the fix step",
    ),
    (
        "unknown step",
        _variant("{step: freeze,", "{step: pray,"),
        "checklist[0].step: input should be",
    ),
    (
        "no prevention",
        _variant("prevention: [Supervise MemoryKernel]", "prevention: []"),
        "prevention:",
    ),
    (
        "negative budget",
        _variant("budget_s: 10", "budget_s: -1"),
        "budget_s: must be greater than 0",
    ),
    (
        "not a mapping",
        "- a\n- b\n",
        "a scenario file holds one mapping (name, incident, checklist, ...); this one is a list",
    ),
    (
        "missing checklist",
        SCENARIO_TEXT.split("checklist:")[0],
        "checklist: required field is missing",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_scenarios_are_one_line_naming_file_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    folder = tmp_path / "rehearsals"
    folder.mkdir()
    (folder / "bad.yaml").write_text(text)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert any(line.startswith(f"{folder / 'bad.yaml'}: ") and message in line for line in lines), (
        lines
    )
    assert "Traceback" not in result.output


def test_summary_not_last_is_refused() -> None:
    text = _variant(
        "  - {step: summary, title: Publish the incident summary}\n",
        "  - {step: summary, title: Publish the incident summary}\n  - {step: contract, title: Re-run}\n",
    )
    with pytest.raises(
        DrillFilesInvalid, match=r"fake\.yaml: checklist: the summary step comes last"
    ):
        scenario(text)


def test_unknown_scenario_names_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unknown scenario 'meteor'; shipped: bad-deploy") as caught:
        choose_scenario(default_scenarios_dir(), "meteor")
    assert getattr(caught.value, "exit_code", None) == 2


def _mkdrill(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_bad_input_to_rehearse_is_exit_2_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(_variant("{kind: stop}", "{kind: meteor}"))
    for args, message in (
        (
            (str(bad), "--auto"),
            f"mkdrill: {bad}: incident[0].fault.kind: unknown fault kind 'meteor'",
        ),
        (("meteor", "--auto"), "mkdrill: SCENARIO: unknown scenario 'meteor'"),
        (("memorykernel-offline-surge",), "mkdrill: rehearse: not a terminal"),
        (
            ("memorykernel-offline-surge", "--auto", "--rate", "5"),
            "mkdrill: Invalid value for '--rate'",
        ),
    ):
        done = _mkdrill("rehearse", *args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(message), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no reports, no state


def test_rehearse_list_shows_every_scenario(tmp_path: Path) -> None:
    done = _mkdrill("rehearse", "--list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("memorykernel-offline-surge", "bad-deploy-cross-contract-rollback",
                 "malformed-after-upgrade", "unannounced-error-code"):  # fmt: skip
        assert name in done.stdout
    assert (REPO / "rehearsals").is_dir()


def test_no_scenario_named_picks_one_of_the_catalog() -> None:
    import random

    names = {s.scenario.name for s in load_scenarios([default_scenarios_dir()])}
    picked = {
        choose_scenario(default_scenarios_dir(), None, random.Random(seed)).scenario.name
        for seed in range(20)
    }
    assert picked <= names and len(picked) > 1
