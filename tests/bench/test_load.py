"""Machine load around a figure: /proc/stat, our own CPU apart from others', quiet and busier sides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.bench.load import (
    LoadSnapshot,
    LoadSpan,
    between,
    busier_side,
    machine_cpu_s,
    overall,
    own_cpu_s,
    with_load,
)

STAT = "cpu  1000 50 250 9000 30 20 10 5 0 0\ncpu0 500 25 125 4500 15 10 5 2 0 0\n"


def test_machine_cpu_counts_busy_jiffies_not_idle_or_iowait(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    assert machine_cpu_s(stat) == pytest.approx((1000 + 50 + 250 + 20 + 10 + 5) / ticks)


@pytest.mark.parametrize("text", ["", "intr 1 2 3\n", "cpu 1 2\n"])
def test_an_unreadable_stat_is_unknown_not_zero(tmp_path: Path, text: str) -> None:
    stat = tmp_path / "stat"
    stat.write_text(text)
    assert machine_cpu_s(stat) is None
    assert machine_cpu_s(tmp_path / "missing") is None


def test_other_processes_cpu_is_the_machine_minus_ours() -> None:
    before = LoadSnapshot(at=10.0, loadavg_1m=0.5, machine_cpu_s=100.0, own_cpu_s=5.0)
    after = LoadSnapshot(at=12.0, loadavg_1m=0.7, machine_cpu_s=103.0, own_cpu_s=7.5)
    span = between(before, after)
    assert span.other_cpu_s == pytest.approx(0.5)
    assert span.other_cores == pytest.approx(0.25)
    assert span.quiet
    assert span.describe() == "others 0.25 cores, load 0.50→0.70"
    assert LoadSpan.from_json(span.as_json()) == span


def test_a_busy_machine_is_not_quiet() -> None:
    assert not LoadSpan(2.0, 0.5, 0.6, other_cpu_s=2.0).quiet  # others kept a core busy
    assert not LoadSpan(2.0, 4.0, 3.5, other_cpu_s=0.1).quiet  # load average high
    assert not LoadSpan(2.0, 0.5, 0.6, other_cpu_s=None).quiet  # unknown is not quiet


def test_our_children_count_as_ours() -> None:
    burn = [
        sys.executable,
        "-c",
        "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass",
    ]
    before = own_cpu_s()
    subprocess.run(burn, check=True)
    assert own_cpu_s() - before >= 0.25


def test_with_load_returns_the_result_and_a_span() -> None:
    result, span = with_load(lambda: 42)
    assert result == 42 and span.wall_s >= 0


def test_busier_side_needs_a_clear_margin() -> None:
    calm = LoadSpan(1.0, 0.3, 0.3, other_cpu_s=0.10)
    close = LoadSpan(1.0, 0.3, 0.3, other_cpu_s=0.30)
    busy = LoadSpan(1.0, 2.0, 2.0, other_cpu_s=0.90)
    assert busier_side(calm, close) is None
    assert busier_side(busy, calm) == "a"
    assert busier_side(calm, busy) == "b"
    assert busier_side(calm, LoadSpan(1.0, 0.3, 0.3, None)) == "unknown"


def test_overall_adds_wall_and_other_cpu() -> None:
    spans = [LoadSpan(1.0, 0.2, 0.4, 0.1), LoadSpan(3.0, 0.4, 0.9, 0.5)]
    total = overall(spans)
    assert (total.wall_s, total.loadavg_before, total.loadavg_after) == (4.0, 0.2, 0.9)
    assert total.other_cpu_s == pytest.approx(0.6)
    with pytest.raises(ValueError):
        overall([])
