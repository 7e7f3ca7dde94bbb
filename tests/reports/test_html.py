"""report.html: self-contained, a summary table and one timeline chart per drill."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from runner.record import RunRecord, Verdict
from runner.reports.html import render_html
from runner.reports.palette import ENRICHED, NOT_ANSWERED, STATUS_COLOURS
from runner.reports.timeline import render_timeline
from tests.reports.factory import FAULT_END_S, make_drill, make_record, make_samples

SVG = "{http://www.w3.org/2000/svg}"


def _svg(drill_svg: str) -> ET.Element:
    return ET.fromstring(drill_svg)


def test_page_is_self_contained(mixed_record: RunRecord) -> None:
    page = render_html(mixed_record)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    assert "url(" not in page


def test_summary_table_links_every_drill(mixed_record: RunRecord) -> None:
    page = render_html(mixed_record)
    for drill in mixed_record.drills:
        assert f'<a href="#drill-{drill.name}">{drill.name}</a>' in page
        opened = "" if drill.verdict is Verdict.PASSED else " open"
        assert f'<details class="drill" id="drill-{drill.name}"{opened}>' in page


def test_chart_has_a_dot_per_sample_coloured_by_status() -> None:
    samples = make_samples(count=120, reason="offline")
    samples[70] = samples[70].model_copy(update={"ok": False, "http_status": None})
    svg = _svg(render_timeline(make_drill(samples=samples)))
    groups = {g.get("data-status"): g for g in svg.iter(f"{SVG}g")}
    assert set(groups) == {ENRICHED, "offline", NOT_ANSWERED}
    assert sum(len(g.findall(f"{SVG}circle")) for g in groups.values()) == 120
    assert len(groups[NOT_ANSWERED].findall(f"{SVG}circle")) == 1
    for status, group in groups.items():
        assert group.get("fill") == STATUS_COLOURS[status]


def test_chart_shades_fault_marks_milestones_and_draws_the_bound() -> None:
    drill = make_drill(ttr_s=1.5)
    svg = _svg(render_timeline(drill))
    fault = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "fault"]
    assert len(fault) == 1
    plot = next(r for r in svg.iter(f"{SVG}rect") if r.get("class") == "plot")
    x0, width = float(plot.get("x", 0)), float(plot.get("width", 0))
    fx, fw = float(fault[0].get("x", 0)), float(fault[0].get("width", 0))
    assert fx == round(x0 + width * 2.0 / 12.0, 1)
    assert round(fx + fw, 1) == round(x0 + width * FAULT_END_S / 12.0, 1)

    milestones = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "milestone"]
    assert len(milestones) == 5
    labels = " ".join(t.text or "" for t in svg.iter(f"{SVG}text") if t.get("class") == "ms-label")
    assert "first enriched draft +1.50s" in labels
    assert "rollback → v0.3.2" in labels
    bound = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "bound"]
    assert len(bound) == 1
    assert any("latency bound 7.5 s" in (t.text or "") for t in svg.iter(f"{SVG}text"))


def test_close_milestone_labels_do_not_overlap() -> None:
    svg = _svg(render_timeline(make_drill(ttr_s=0.004)))
    rows = [
        (float(t.get("y", 0)), t.text or "")
        for t in svg.iter(f"{SVG}text")
        if t.get("class") == "ms-label"
    ]
    assert len(rows) == 6
    assert len({y for y, _ in rows}) == 6  # same x: each label needs its own lane


def test_unreached_milestones_are_listed_as_never() -> None:
    page = render_html(make_record([make_drill("mk-never", Verdict.FAILED, ttr_s=None)]))
    assert "<td>first_enriched_draft</td><td>never</td>" in page
    assert "over budget" in page


def test_drill_without_samples_says_so_instead_of_an_empty_chart(mixed_record: RunRecord) -> None:
    page = render_html(mixed_record)
    assert page.count("<svg") == sum(1 for d in mixed_record.drills if d.samples) == 3
    assert page.count("No Draft was sampled in this drill.") == 1
    ET.fromstring(render_timeline(make_drill(samples=[], restore=False)))


def test_passing_drills_are_collapsed_and_the_others_open() -> None:
    passed = make_drill("mk-fine")
    failed = make_drill("mk-broken", Verdict.FAILED, failed_assertion=("a", "b"))
    page = render_html(make_record([passed, failed]))
    assert '<details class="drill" id="drill-mk-fine">' in page
    assert '<details class="drill" id="drill-mk-broken" open>' in page
    assert page.count("<summary>") == 2


def test_expected_red_drill_is_labelled_and_shows_its_consumer() -> None:
    drill = make_drill(
        "contract-shipped-ask-body",
        Verdict.FAILED,
        failed_assertion=("5 enriched", "0/20"),
        consumer={"ask_body": "shipped", "pin": "v0.4.0", "timeout_ms": "2500"},
    ).model_copy(update={"expected_red": "shipped body has no as_of (422)"})
    page = render_html(make_record([drill]))
    assert page.count('<span class="badge expected-red">expected red</span>') == 2  # table, section
    assert "Red by design: shipped body has no as_of (422)" in page
    assert "consumer: pin v0.4.0, timeout 2500 ms, shipped ask body" in page


def test_legend_total_equals_the_phase_tables_total() -> None:
    drill = make_drill(samples=make_samples(count=1001))
    page = render_html(make_record([drill]))
    legend = re.search(r'<div class="legend"><span>(\d+) Drafts:</span>', page)
    total = re.search(r"<td>all phases</td><td>(\d+)</td>", page)
    assert legend is not None and total is not None
    assert legend.group(1) == total.group(1) == "1001"


def test_the_restore_shows_the_clocks_resolution_beside_its_time() -> None:
    drill = make_drill("mk-restored", Verdict.PASSED, ttr_s=1.25)
    ttr = drill.time_to_restore
    assert ttr is not None
    milestones = [
        m.model_copy(update={"resolution_s": 0.004}) if m.at_s == 1.25 else m
        for m in ttr.milestones
    ]
    ttr = ttr.model_copy(update={"resolution_s": 0.004, "milestones": milestones})
    page = render_html(make_record([drill.model_copy(update={"time_to_restore": ttr})]))
    assert "1.25 s (resolution 0.004 s) of" in page
    assert "<th>resolution</th>" in page
    assert "<td>first_enriched_draft</td><td>+1.25 s</td><td>0.004 s</td>" in page
