"""bench.json: headline keys, section shapes, strict JSON, atomic write, the printed table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.bench.peer import LatencyDrill, PeerRun, PeerRuns
from runner.bench.probe_cost import ProbeCost
from runner.bench.proxy_rounds import ProxyResults
from runner.bench.restore_accuracy import RestoreTrial
from runner.bench.results import (
    HEADLINE_KEYS,
    cli_section,
    headline,
    peer_section,
    probe_section,
    proxy_section,
    restore_section,
    suite_section,
    table_rows,
    write_bench_json,
)
from runner.bench.stats import figure
from runner.bench.suite import SuiteRun


def _run(tool: str, wall: float) -> PeerRun:
    return PeerRun(
        tool=tool,
        wall_s=wall,
        window_s=2.0,
        exit_code=0,
        passed=True,
        drafts_in_window=50 if tool == "mkdrill" else 1,
        drafts_total=60,
        fallback_reasons={"offline": 40},
        phases_s={"observe": 2.0},
    )


def _document() -> dict[str, Any]:
    peers = PeerRuns(LatencyDrill("latency-above-timeout", 800, 2.0, 500))
    peers.mkdrill.extend([_run("mkdrill", 5.0), _run("mkdrill", 4.0), _run("mkdrill", 6.0)])
    peers.ctk.extend([_run("ctk", 3.0), _run("ctk", 3.0), _run("ctk", 4.0)])
    suite = [
        SuiteRun(6, 6, 27.0, 13.0, 4.0, 3.0, 2.0, 0.3, 0.7, {"steady": 1.4}),
        SuiteRun(6, 6, 25.5, 13.0, 4.0, 3.0, 2.0, 0.3, 0.7, {"steady": 1.3}),
    ]
    trials = {
        2.0: [
            RestoreTrial(2.0, 2.0 + e / 1000, 0.0001, {"first_enriched_draft": 2.0 + e / 1000})
            for e in (10.0, 20.0, 30.0, 40.0)
        ]
        + [RestoreTrial(2.0, None, float("nan"), {"first_enriched_draft": None})],
    }
    costs = [ProbeCost(20.0, 5.0, 100, 100, 0.2, 0.15), ProbeCost(50.0, 5.0, 250, 250, 0.5, None)]
    proxy = ProxyResults(
        figures={"embedded": {"added_p50_ms": figure([0.1, 0.2, 0.3], "ms")}},
        real_skipped="no toxiproxy-server on PATH",
    )
    doc: dict[str, Any] = {
        "peer": peer_section(peers),
        "suite": suite_section(suite, ("degraded",)),
        "restore": restore_section(trials),
        "probe": probe_section(costs),
        "proxy": proxy_section(proxy),
        "cli": cli_section("/bin/mkdrill", {"--help": (figure([0.2, 0.3, 0.25], "s"), None)}),
    }
    doc.update(headline(doc))
    return doc


def test_headline_has_every_key_from_its_section() -> None:
    doc = _document()
    assert set(HEADLINE_KEYS) <= set(doc)
    # mkdrill overheads 3, 2, 4 against CTK 1, 1, 2: paired ratios 3, 2, 2 → median 2
    assert doc["ctk_overhead_ratio"] == pytest.approx(2.0)
    assert doc["suite_overhead_ratio"] == pytest.approx((27.0 + 25.5) / 2 / 17.0)
    assert doc["restore_error_ms_p95"] == pytest.approx(40.0)
    assert doc["proxy_p50_added_ms"] == pytest.approx(0.2)
    assert doc["cli_help_ms"] == pytest.approx(250.0)


def test_sections_carry_median_min_max_and_what_each_tool_asserts() -> None:
    doc = _document()
    peer = doc["peer"]
    for tool in ("mkdrill", "chaostoolkit"):
        assert set(peer[tool]["overhead_s"]) >= {"median", "min", "max", "n"}
        assert peer[tool]["asserts"] and peer[tool]["wall_includes"]
    assert peer["mkdrill"]["drafts_in_window"]["median"] == 50
    assert peer["chaostoolkit"]["drafts_in_window"]["median"] == 1
    restore = doc["restore"]["by_delay_s"]["2"]
    assert (restore["trials"], restore["restored"], restore["within_target"]) == (5, 4, 4)
    assert doc["probe"]["by_rate_hz"]["50"]["consumer_cpu_s"] is None


def test_an_empty_document_has_headline_nones() -> None:
    assert headline({}) == dict.fromkeys(HEADLINE_KEYS)


def test_bench_json_is_strict_json_written_atomically(tmp_path: Path) -> None:
    doc = _document()
    target = write_bench_json(doc, tmp_path / "bench")
    assert target == tmp_path / "bench" / "bench.json"
    text = target.read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text)
    assert loaded["restore"]["by_delay_s"]["2"]["timer_late_ms"]["values"][-1] is None
    assert [p.name for p in target.parent.iterdir()] == ["bench.json"]  # no temp file left


def test_a_failed_write_keeps_the_previous_bench_json(tmp_path: Path) -> None:
    write_bench_json({"first": 1}, tmp_path)
    with pytest.raises(TypeError):
        write_bench_json({"unserialisable": object()}, tmp_path)
    assert json.loads((tmp_path / "bench.json").read_text()) == {"first": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_the_table_has_a_row_per_figure_with_six_columns() -> None:
    rows = table_rows(_document())
    assert all(len(row) == 6 for row in rows)
    names = [row[0] for row in rows]
    assert "peer overhead ratio mkdrill/CTK [×]" in names
    assert any(name.startswith("mkdrill --help") for name in names)
    assert ["proxy toxiproxy-server", "-", "-", "-", "-", "no toxiproxy-server on PATH"] in rows


def test_a_restore_error_counts_from_when_the_responder_really_switched() -> None:
    """A timer woken 30 ms late is the bench's lateness, not the watch's error."""
    late = RestoreTrial(2.0, 2.034, 0.030, {"first_enriched_draft": 2.034}, switched_s=2.030)
    assert late.error_s == pytest.approx(0.004)
    scripted = RestoreTrial(2.0, 2.034, 0.0, {"first_enriched_draft": 2.034})
    assert scripted.error_s == pytest.approx(0.034)


def test_the_flip_notes_its_moment_before_it_switches() -> None:
    from runner.bench.restore_accuracy import _flip_at

    flipped: list[float] = []
    seen: list[int] = []
    _flip_at(0.0, lambda: seen.append(len(flipped)), flipped)
    assert seen == [1] and len(flipped) == 1
