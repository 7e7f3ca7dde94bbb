"""The pure parts of the soak (scripts/soak_analysis.py): process roles, fits, growth rules, per-run and cross-run verdicts."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))  # the scripts import each other as top-level modules
soak = importlib.import_module("soak_analysis")
soak_cli = importlib.import_module("soak")
LIMITS = soak.Thresholds()


def sample(role: str, t: float, pid: int = 1, **values: float) -> object:
    metrics = {"fds": 10, "threads": 4, "children": 0, "rss_mb": 50.0, **values}
    return soak.ProcessSample(role=role, pid=pid, t=t, **metrics)


# Roles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        (
            ["/usr/bin/python3", "-m", "runner", "serve", "memorykernel", "--port", "0"],
            "memorykernel",
        ),
        (["python", "-m", "runner", "serve", "assistsupport", "--pin", "p.json"], "assistsupport"),
        (["python", "-m", "runner", "serve", "toxiproxy"], "toxiproxy"),
        (["python", "-m", "runner", "serve", "responder", "--mode", "hang"], "responder"),
        (["/usr/local/bin/toxiproxy-server", "-host", "127.0.0.1"], "toxiproxy"),
        (["/bin/sh", "draft.sh"], "other"),
        (["python", "-m", "runner", "serve"], "other"),
        (["python", "-m", "runner", "serve", "serve"], "other"),
        ([], "other"),
    ],
)
def test_role_of_a_process_comes_from_its_command_line(cmdline: list[str], role: str) -> None:
    assert soak.role_of(cmdline) == role


# Fits and thresholds ---------------------------------------------------------------------------


def test_linear_slope_of_a_line_is_exact() -> None:
    assert soak.linear_slope([0, 1, 2, 3], [5, 7, 9, 11]) == pytest.approx(2.0)
    assert soak.linear_slope([0, 1, 2], [3, 3, 3]) == 0.0
    assert soak.linear_slope([0, 1, 2], [9, 6, 3]) == pytest.approx(-3.0)


def test_linear_slope_is_zero_when_undefined_and_refuses_mismatched_series() -> None:
    assert soak.linear_slope([], []) == 0.0
    assert soak.linear_slope([1.0], [4.0]) == 0.0
    assert soak.linear_slope([2, 2, 2], [1, 5, 9]) == 0.0
    with pytest.raises(ValueError):
        soak.linear_slope([1, 2], [1])


def test_settled_ends_ignore_warm_up_and_single_spikes() -> None:
    warm_up_then_flat = [2, 4, 6] + [10] * 9
    assert soak.settled_ends(warm_up_then_flat) == (10, 10)
    spike_in_the_middle = [10] * 6 + [90] + [10] * 5
    assert soak.settled_ends(spike_in_the_middle) == (10, 10)
    ramp = list(range(24))
    start, end = soak.settled_ends(ramp)
    assert end - start >= 10
    assert soak.settled_ends([7]) == (7, 7)
    with pytest.raises(ValueError):
        soak.settled_ends([])


@pytest.mark.parametrize(
    ("metric", "start", "end", "flagged"),
    [
        ("rss_mb", 100.0, 110.0, False),  # exactly the threshold is not beyond it
        ("rss_mb", 100.0, 110.5, True),
        ("rss_mb", 100.0, 60.0, False),
        ("rss_mb", 0.0, 50.0, False),  # no baseline, no percentage
        ("fds", 10, 15, False),
        ("fds", 10, 16, True),
        ("fds", 16, 10, False),
        ("threads", 4, 10, True),
        ("children", 3, 5, False),
        ("children", 3, 6, True),
    ],
)
def test_growth_beyond_thresholds(metric: str, start: float, end: float, flagged: bool) -> None:
    assert LIMITS.exceeded(metric, start, end) is flagged


# Within one run --------------------------------------------------------------------------------


def test_within_run_flags_a_runner_leaking_descriptors_but_not_flat_services() -> None:
    samples = []
    for tick in range(30):
        t = 100.0 + tick * 2
        samples.append(sample("runner", t, pid=1, fds=10 + tick))
        samples.append(sample("toxiproxy", t, pid=2, fds=8, rss_mb=35.0 + (tick % 2) * 0.1))
    verdict = soak.within_run(samples, LIMITS)
    assert verdict["runner"]["fds"].flagged
    assert verdict["runner"]["fds"].slope_per_hour == pytest.approx(1800.0)  # 1 per 2 s
    assert not verdict["runner"]["rss_mb"].flagged
    assert not any(t.flagged for t in verdict["toxiproxy"].values())


def test_within_run_ignores_the_runner_before_and_after_the_environment() -> None:
    samples = [sample("runner", t, fds=3, threads=1, rss_mb=20.0) for t in (0.0, 2.0, 4.0)]
    for tick in range(20):
        t = 6.0 + tick * 2
        samples.append(sample("runner", t, fds=12, threads=5, children=3, rss_mb=60.0))
        samples.append(sample("assistsupport", t, pid=3))
    samples += [sample("runner", t, fds=4, threads=1, rss_mb=61.0) for t in (46.0, 48.0)]
    verdict = soak.within_run(samples, LIMITS)
    assert verdict["runner"]["fds"].start == 12 and verdict["runner"]["fds"].end == 12
    assert not any(t.flagged for t in verdict["runner"].values())


def test_within_run_follows_the_longest_lived_instance_of_a_restarted_service() -> None:
    samples = []
    for tick in range(20):
        samples.append(sample("memorykernel", tick * 2.0, pid=10, fds=5))
    # the restarted instance lives briefly with more descriptors: no leak of either instance
    samples += [sample("memorykernel", 40.0 + tick * 2, pid=11, fds=30) for tick in range(4)]
    verdict = soak.within_run(samples, LIMITS)
    assert verdict["memorykernel"]["fds"].start == 5 and verdict["memorykernel"]["fds"].end == 5
    assert not verdict["memorykernel"]["fds"].flagged


def test_within_run_skips_roles_with_too_few_samples() -> None:
    samples = [sample("runner", t) for t in (0.0, 2.0, 4.0)]
    assert soak.within_run(samples, LIMITS) == {}


def test_peaks_add_up_overlapping_processes_of_a_role_and_skip_others() -> None:
    samples = [
        sample("memorykernel", 0.0, pid=1, fds=5, rss_mb=30.0),
        sample("memorykernel", 2.0, pid=1, fds=6, rss_mb=31.0),
        sample("memorykernel", 2.0, pid=2, fds=4, rss_mb=20.0),  # its replacement, starting
        sample("other", 2.0, pid=3, fds=100, rss_mb=500.0),
    ]
    result = soak.peaks(samples)
    assert result["memorykernel"]["fds"] == 10
    assert result["memorykernel"]["rss_mb"] == pytest.approx(51.0)
    assert "other" not in result


# Across runs -----------------------------------------------------------------------------------


def runs(values: list[float], metric: str = "fds", every_s: float = 360.0) -> object:
    midpoints = [i * every_s for i in range(len(values))]
    peaks = [{"runner": {**dict.fromkeys(soak.METRICS, 1.0), metric: v}} for v in values]
    return soak.across_runs(midpoints, peaks, LIMITS)["runner"][metric]


def test_across_runs_flags_steady_growth_with_its_slope_per_hour() -> None:
    trend = runs([10, 12, 14, 16, 18])  # +2 every 6 minutes
    assert trend.flagged
    assert (trend.start, trend.end) == (10, 18)
    assert trend.slope_per_hour == pytest.approx(20.0)


def test_across_runs_rss_growth_is_relative() -> None:
    assert runs([100.0, 104.0, 108.0, 112.0], metric="rss_mb").flagged
    assert not runs([100.0, 103.0, 106.0, 109.0], metric="rss_mb").flagged


@pytest.mark.parametrize(
    "values",
    [
        [10, 10, 10, 10, 16],  # one high last run: the fit does not rise past the threshold
        [18, 10, 10, 10, 10],  # a high first run (warm caches, other load)
        [10, 11, 9, 10, 11, 10],
    ],
)
def test_across_runs_does_not_flag_noise(values: list[float]) -> None:
    assert not runs(values).flagged


def test_across_runs_with_one_run_never_flags_and_skips_missing_roles() -> None:
    assert not runs([10]).flagged
    assert runs([10, 40]).flagged
    assert soak.across_runs([0.0], [{}], LIMITS) == {}


def test_findings_name_cross_run_growth_majority_within_run_growth_and_leftovers() -> None:
    grew = soak.Trend(10, 20, 5.0, True)
    flat = soak.Trend(10, 10, 0.0, False)
    across = {"runner": {"fds": grew, "threads": flat}}
    within = {"runner": {"rss_mb": 2, "fds": 1}, "toxiproxy": {"fds": 0}}
    found = soak.findings(across, within, runs=3, leftovers=2)
    assert found == [
        "runner fds: 10 → 20 across runs (+5.00/h)",
        "runner rss_mb: grew within 2 of 3 runs",
        "2 service processes outlived their run",
    ]
    assert soak.findings({"runner": {"fds": flat}}, {"runner": {"fds": 1}}, 3, 0) == []


def test_within_run_flags_are_counted_per_role_and_metric() -> None:
    grew = soak.Trend(10, 20, 5.0, True)
    flat = soak.Trend(10, 10, 0.0, False)
    counts = soak.within_run_flags(
        [{"runner": {"fds": grew}}, {"runner": {"fds": grew, "rss_mb": flat}}, {}]
    )
    assert counts["runner"]["fds"] == 2 and counts["runner"]["rss_mb"] == 0


def test_iteration_table_marks_flagged_growth() -> None:
    iteration = soak.Iteration(
        index=3,
        exit_code=1,
        interrupted=False,
        started_s=0.0,
        duration_s=150.0,
        drills={"passed": 23, "failed": 1},
        leftover_processes=["memorykernel pid 42"],
        leftover_state_files=[],
        peaks={"runner": {"fds": 14.0, "threads": 6.0, "children": 3.0, "rss_mb": 80.5}},
        within={
            "runner": {
                "fds": soak.Trend(9, 13, 100.0, False),
                "threads": soak.Trend(3, 3, 0.0, False),
                "children": soak.Trend(3, 3, 0.0, False),
                "rss_mb": soak.Trend(60.0, 75.0, 900.0, True),
            }
        },
        samples=[],
    )
    table = soak.format_iteration(iteration)
    assert "run 3: exit 1, 150 s, failed 1, passed 23" in table
    runner_row = next(line for line in table.splitlines() if line.startswith("runner"))
    assert "9→13 (14)" in runner_row and "60→75 (80.5)!" in runner_row
    assert "LEFTOVERS" in table and "memorykernel pid 42" in table


def test_arguments_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        soak_cli.parse_args(["--minutes", "0"])
    args = soak_cli.parse_args(["--minutes", "1", "--drills", "disabled,hang", "--out", "x"])
    assert args.drills == "disabled,hang" and args.out.is_absolute()


# The whole soak --------------------------------------------------------------------------------


def run_of(index: int, late_fds: float, peak_fds: float, interrupted: bool = False) -> object:
    """A run whose toxiproxy settles at `late_fds` descriptors and once peaks at `peak_fds`."""
    start = index * 360.0
    samples = [sample("toxiproxy", start + t * 2.0, pid=index, fds=late_fds) for t in range(24)]
    samples[5] = sample("toxiproxy", start + 10.0, pid=index, fds=peak_fds)
    return soak.Iteration(
        index=index,
        exit_code=130 if interrupted else 0,
        interrupted=interrupted,
        started_s=start,
        duration_s=48.0,
        drills={"passed": 24},
        leftover_processes=[],
        leftover_state_files=[],
        peaks=soak.peaks(samples),
        within=soak.within_run(samples, LIMITS),
        samples=samples,
    )


def test_judge_flags_rising_late_levels_not_rising_connection_peaks() -> None:
    bursty = [run_of(i, late_fds=8, peak_fds=60 + 6 * i) for i in range(6)]
    verdict = soak.judge(bursty, LIMITS)
    assert verdict.peaks["toxiproxy"]["fds"].slope_per_hour > 0
    assert verdict.findings == []
    leaking = [run_of(i, late_fds=8 + 3 * i, peak_fds=60) for i in range(6)]
    verdict = soak.judge(leaking, LIMITS)
    assert verdict.findings == ["toxiproxy fds: 8 → 23 across runs (+30.00/h)"]
    assert "GROWTH" in soak.format_verdict(verdict)


def test_judge_leaves_an_interrupted_run_out_of_the_trends() -> None:
    runs_ = [run_of(i, late_fds=8, peak_fds=20) for i in range(3)]
    runs_.append(run_of(3, late_fds=40, peak_fds=40, interrupted=True))
    verdict = soak.judge(runs_, LIMITS)
    assert verdict.runs == 3 and verdict.findings == []
    assert verdict.levels["toxiproxy"]["fds"].end == 8


def test_soak_json_iterations_read_back_the_same() -> None:
    original = run_of(2, late_fds=9, peak_fds=30)
    data = json.loads(json.dumps(soak.iteration_json(original)))
    again = soak.iteration_from_json(data, LIMITS)
    assert again == original
