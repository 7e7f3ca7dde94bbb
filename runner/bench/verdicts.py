"""bench.json's goals and changes: each goal's figure with its load and verdict, each change before/after.

Goals (the lower the better unless marked): mkdrill's time outside the fault window ÷ Chaos
Toolkit's (paired runs), the nightly suite's wall ÷ (fault windows + restores), the restore
clock's p95 error, the embedded Toxiproxy's added latency minus a real server's (paired rounds,
new connections and kept-alive), `mkdrill --help`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runner.bench.judge import Change, Goal, Judgement, judge_change, judge_paired, judge_quiet
from runner.bench.load import LoadSpan, overall
from runner.bench.stats import figure

Json = dict[str, Any]

PROXY_PAIRED = (
    ("proxy_new_connection_p50_vs_real_ms", "new_connection_added_p50_ms"),
    ("proxy_new_connection_p99_vs_real_ms", "new_connection_added_p99_ms"),
    ("proxy_p50_vs_real_ms", "added_p50_ms"),
    ("proxy_p99_vs_real_ms", "added_p99_ms"),
)


@dataclass(frozen=True)
class GoalFigure:
    """A goal's figure as measured: median/min/max/n, the loads it was measured under."""

    goal: Goal
    figure: Json | None
    loads: list[LoadSpan]
    pairs: list[tuple[LoadSpan, LoadSpan]] | None = None  # a paired comparison's sides
    sides: tuple[str, str] = ("a", "b")

    def judgement(self) -> Judgement:
        value = self.figure["median"] if self.figure else None
        if self.pairs is not None:
            return judge_paired(self.goal, value, self.pairs, self.sides)
        return judge_quiet(self.goal, value, self.loads)

    def as_json(self) -> Json:
        load = overall(self.loads).as_json() if self.loads else None
        return {"figure": self.figure, "load": load, **self.judgement().as_json()}


def _spans(items: Sequence[Json | None]) -> list[LoadSpan]:
    return [LoadSpan.from_json(item) for item in items if item]


def _peer(doc: Json) -> GoalFigure | None:
    peer = doc.get("peer")
    if not peer:
        return None
    pairs = [
        (LoadSpan.from_json(p["mkdrill"]), LoadSpan.from_json(p["chaostoolkit"]))
        for p in peer.get("loads", [])
        if p.get("mkdrill") and p.get("chaostoolkit")
    ]
    return GoalFigure(
        Goal("<=", 0.5),
        peer["overhead_ratio"],
        [span for pair in pairs for span in pair],
        pairs,
        ("mkdrill", "chaostoolkit"),
    )


def _suite(doc: Json) -> GoalFigure | None:
    suite = doc.get("suite")
    if not suite:
        return None
    return GoalFigure(Goal("<=", 1.05), suite["ratio"], _spans(suite.get("loads", [])))


def _restore(doc: Json) -> GoalFigure | None:
    two = ((doc.get("restore") or {}).get("by_delay_s") or {}).get("2")
    if not two:
        return None
    load = two.get("load")
    return GoalFigure(Goal("<=", 20.0), two.get("p95_ms_by_round"), _spans([load]))


def _cli(doc: Json) -> GoalFigure | None:
    help_ = ((doc.get("cli") or {}).get("commands") or {}).get("mkdrill --help")
    if not help_:
        return None
    return GoalFigure(Goal("<=", 300.0), help_, _spans([help_.get("load")]))


def _proxy(doc: Json) -> dict[str, GoalFigure]:
    proxy = doc.get("proxy") or {}
    servers = proxy.get("servers") or {}
    real_kind = next((kind for kind in servers if kind != "embedded"), None)
    embedded = servers.get("embedded")
    if embedded is None or real_kind is None:
        return {}
    loads = proxy.get("loads") or {}
    pairs = [
        (LoadSpan.from_json(a), LoadSpan.from_json(b))
        for a, b in zip(loads.get("embedded", []), loads.get(real_kind, []), strict=False)
    ]
    figures: dict[str, GoalFigure] = {}
    for key, name in PROXY_PAIRED:
        ours, theirs = embedded.get(name), servers[real_kind].get(name)
        if not ours or not theirs:
            continue
        differences = [a - b for a, b in zip(ours["values"], theirs["values"], strict=False)]
        if not differences:
            continue
        figures[key] = GoalFigure(
            Goal("<=", 0.0),
            figure(differences, "ms").as_json(),
            [span for pair in pairs for span in pair],
            pairs,
            ("embedded", real_kind),
        )
    return figures


def goal_figures(doc: Json) -> dict[str, GoalFigure]:
    """Every goal measured in `doc`, by its bench.json key."""
    found: dict[str, GoalFigure | None] = {
        "ctk_overhead_ratio": _peer(doc),
        "suite_overhead_ratio": _suite(doc),
        "restore_error_ms_p95": _restore(doc),
        "cli_help_ms": _cli(doc),
        **_proxy(doc),
    }
    return {key: value for key, value in found.items() if value is not None}


def goals_json(doc: Json) -> Json:
    """bench.json's `goals`: per goal its figure, load and verdict."""
    return {key: goal.as_json() for key, goal in goal_figures(doc).items()}


def _side(goal: Json) -> tuple[Json, LoadSpan | None]:
    fig = goal.get("figure") or {}
    load = goal.get("load")
    side = {k: fig.get(k) for k in ("median", "min", "max", "n", "unit")} | {"load": load}
    return side, LoadSpan.from_json(load) if load else None


def changes_between(
    name: str, before: Json, after: Json, before_commit: str | None, commit: str | None
) -> list[Change]:
    """One change per goal measured both in `before` and `after` (bench.json documents)."""
    changes: list[Change] = []
    old, new = before.get("goals") or {}, after.get("goals") or {}
    for key in sorted(set(old) & set(new)):
        if not (old[key].get("figure") and new[key].get("figure")):
            continue
        before_side, before_load = _side(old[key])
        after_side, after_load = _side(new[key])
        verdict, reason = judge_change(
            float(before_side["median"]),
            float(after_side["median"]),
            before_load,
            after_load,
        )
        changes.append(
            Change(name, key, before_side, after_side, before_commit, commit, verdict, reason)
        )
    return changes
