"""The per-drill timeline chart: Draft latency over time as inline SVG, no script, no network."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from runner.record import DrillResult
from runner.reports.metrics import sample_status
from runner.reports.palette import NOT_ANSWERED, status_colour

WIDTH = 960
LEFT = 66
RIGHT = WIDTH - 18
PLOT_HEIGHT = 250
PHASE_STRIP = (6, 20)  # y range of the phase strip above everything else
LANE_HEIGHT = 13  # one lane of milestone labels between the phase strip and the plot
CHAR_WIDTH = 6.2  # of the 10 px bold label font, generous so labels never touch
AXIS_ROOM = 42  # below the plot: tick labels and the axis title
MIN_LATENCY_MS = 0.1


@dataclass(frozen=True)
class _Mark:
    """A labelled vertical line: the restore start or a milestone."""

    at_s: float
    label: str
    css: str


@dataclass(frozen=True)
class _PlacedMark:
    mark: _Mark
    x: float
    lane: int
    anchor: str
    text_x: float


@dataclass(frozen=True)
class _Layout:
    """Scales and geometry of one chart."""

    t_max: float
    log_lo: float
    log_hi: float
    top: float
    marks: list[_PlacedMark]

    @property
    def bottom(self) -> float:
        return self.top + PLOT_HEIGHT

    @property
    def height(self) -> float:
        return self.bottom + AXIS_ROOM

    def x(self, t: float) -> float:
        return LEFT + (RIGHT - LEFT) * min(max(t, 0.0), self.t_max) / self.t_max

    def y(self, ms: float) -> float:
        decades = math.log10(max(ms, MIN_LATENCY_MS)) - self.log_lo
        return self.bottom - min(max(decades * self.px_per_decade, 0.0), PLOT_HEIGHT)

    @property
    def px_per_decade(self) -> float:
        return PLOT_HEIGHT / (self.log_hi - self.log_lo)


def _offset(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def _marks(drill: DrillResult, extra: Sequence[tuple[float, str]] = ()) -> list[_Mark]:
    marks = [_Mark(at_s, label, "operator") for at_s, label in extra]
    ttr = drill.time_to_restore
    if ttr is None:
        return sorted(marks, key=lambda m: m.at_s)
    marks.append(_Mark(ttr.started_s, f"{ttr.kind} → {ttr.target_release}", "restore"))
    marks += [
        _Mark(
            ttr.started_s + m.at_s,
            f"{m.name.value.replace('_', ' ')} +{_offset(m.at_s)}",
            "milestone",
        )
        for m in ttr.milestones
        if m.at_s is not None
    ]
    return sorted(marks, key=lambda m: m.at_s)


def _x(t: float, t_max: float) -> float:
    return LEFT + (RIGHT - LEFT) * min(max(t, 0.0), t_max) / t_max


def _place(marks: list[_Mark], t_max: float) -> list[_PlacedMark]:
    """Greedy lanes, left to right, so that no two labels overlap however close the lines are."""
    lane_ends: list[float] = []
    placed: list[_PlacedMark] = []
    for mark in marks:
        x = _x(mark.at_s, t_max)
        width = CHAR_WIDTH * len(mark.label) + 6
        anchor, left, text_x = "start", x, x + 3
        if x + width > RIGHT:
            anchor, left, text_x = "end", x - width, x - 3
        lane = next((i for i, end in enumerate(lane_ends) if end < left - 4), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(0.0)
        lane_ends[lane] = left + width
        placed.append(_PlacedMark(mark, x, lane, anchor, text_x))
    return placed


def _layout(drill: DrillResult, extra: Sequence[tuple[float, str]] = ()) -> _Layout:
    ends = [
        drill.duration_s,
        *(s.t_s for s in drill.samples[-1:]),
        *(p.end_s for p in drill.phases),
    ]
    if drill.fault_window:
        ends.append(drill.fault_window.end_s)
    marks = _marks(drill, extra)
    ends += [m.at_s for m in marks]
    t_max = max([e for e in ends if math.isfinite(e)] + [0.0]) or 1.0
    latencies = [s.latency_ms for s in drill.samples]
    low = min(latencies, default=1.0)
    high = max([*latencies, drill.latency_bound_ms, 10.0])
    log_lo = math.floor(math.log10(max(low, MIN_LATENCY_MS)))
    log_hi = max(math.ceil(math.log10(high * 1.05)), log_lo + 1)
    placed = _place(marks, t_max)
    lanes = max((p.lane + 1 for p in placed), default=0)
    top = PHASE_STRIP[1] + 8 + LANE_HEIGHT * lanes
    return _Layout(t_max=t_max, log_lo=log_lo, log_hi=log_hi, top=top, marks=placed)


def _nice_step(span: float, target_ticks: int = 10) -> float:
    raw = span / target_ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power


def _ms_label(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms:g} ms"


def _axes(layout: _Layout, time_label: str) -> list[str]:
    top, bottom = layout.top, layout.bottom
    out = [
        f'<rect x="{LEFT}" y="{top}" width="{RIGHT - LEFT}" height="{PLOT_HEIGHT}" class="plot"/>'
    ]
    for decade in range(int(layout.log_lo), int(layout.log_hi) + 1):
        for multiple in (1, 2, 5):
            ms = multiple * 10.0**decade
            if math.log10(ms) > layout.log_hi + 1e-9:
                break
            y = layout.y(ms)
            css = "grid" if multiple == 1 else "grid minor"
            out.append(f'<line x1="{LEFT}" x2="{RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="{css}"/>')
            if multiple == 1:
                out.append(
                    f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                    f"{_ms_label(ms)}</text>"
                )
    step = _nice_step(layout.t_max)
    for i in range(int(layout.t_max / step + 1e-9) + 1):
        t = i * step
        x = layout.x(t)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 5}" class="axis"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 18}" class="tick" text-anchor="middle">{t:g} s</text>'
        )
    out.append(
        f'<text x="{(LEFT + RIGHT) / 2:.0f}" y="{layout.height - 6}" class="label" '
        f'text-anchor="middle">{escape(time_label)}</text>'
    )
    mid = (top + bottom) / 2
    out.append(
        f'<text x="14" y="{mid:.0f}" class="label" text-anchor="middle" '
        f'transform="rotate(-90 14 {mid:.0f})">Draft latency (log scale)</text>'
    )
    return out


def _phase_strip(drill: DrillResult, layout: _Layout) -> list[str]:
    y, bottom = PHASE_STRIP
    out: list[str] = []
    for i, span in enumerate(drill.phases):
        x1, x2 = layout.x(span.start_s), layout.x(span.end_s)
        width = max(x2 - x1, 0.5)
        out.append(
            f'<rect x="{x1:.1f}" y="{y}" width="{width:.1f}" height="{bottom - y}" '
            f'class="phase p{i % 2}"><title>{span.phase.value}: '
            f"{span.start_s:.2f} to {span.end_s:.2f} s</title></rect>"
        )
        if width >= 7 * len(span.phase.value) + 6:
            out.append(
                f'<text x="{(x1 + x2) / 2:.1f}" y="{bottom - 3}" class="phase-label" '
                f'text-anchor="middle">{span.phase.value}</text>'
            )
    return out


def _fault_window(drill: DrillResult, layout: _Layout) -> list[str]:
    window = drill.fault_window
    if window is None:
        return []
    x1, x2 = layout.x(window.start_s), layout.x(window.end_s)
    title = escape(
        f"fault {window.kind}: {window.description} ({window.start_s:.2f} to {window.end_s:.2f} s)"
    )
    return [
        f'<rect x="{x1:.1f}" y="{layout.top}" width="{max(x2 - x1, 1.0):.1f}" '
        f'height="{PLOT_HEIGHT}" class="fault"><title>{title}</title></rect>',
        f'<text x="{x1 + 4:.1f}" y="{layout.bottom - 6}" class="fault-label">'
        f"fault: {escape(window.kind)}</text>",
    ]


def _milestones(layout: _Layout) -> list[str]:
    out: list[str] = []
    for placed in layout.marks:
        y = PHASE_STRIP[1] + 8 + LANE_HEIGHT * placed.lane + 9
        out.append(
            f'<line x1="{placed.x:.1f}" x2="{placed.x:.1f}" y1="{y - 9}" y2="{layout.bottom}" '
            f'class="{placed.mark.css}"/>'
        )
        out.append(
            f'<text x="{placed.text_x:.1f}" y="{y}" class="ms-label" text-anchor="{placed.anchor}">'
            f"{escape(placed.mark.label)}</text>"
        )
    return out


def _bound(drill: DrillResult, layout: _Layout) -> list[str]:
    y = layout.y(drill.latency_bound_ms)
    return [
        f'<line x1="{LEFT}" x2="{RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="bound"/>',
        f'<text x="{LEFT + 6}" y="{y - 5:.1f}" class="bound-label">'
        f"latency bound {_ms_label(drill.latency_bound_ms)}</text>",
    ]


def _dots(drill: DrillResult, layout: _Layout) -> list[str]:
    # The hot loop of the HTML report (thousands of samples per run): scale maths inlined, one
    # <g> per status carrying the colour, escaped labels cached.
    groups: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    x_per_s = (RIGHT - LEFT) / layout.t_max
    px_per_decade = layout.px_per_decade
    bottom, t_max, log_lo = layout.bottom, layout.t_max, layout.log_lo
    log10 = math.log10
    for sample in drill.samples:
        status = sample_status(sample)
        code = sample.machine_error_code
        key = f"{status}\0{code}" if code else status
        label = labels.get(key)
        if label is None:
            label = labels[key] = escape(f"{status} code={code}" if code else status)
        t = min(max(sample.t_s, 0.0), t_max)
        decades = log10(max(sample.latency_ms, MIN_LATENCY_MS)) - log_lo
        y = bottom - min(max(decades * px_per_decade, 0.0), PLOT_HEIGHT)
        radius = 3.6 if status == NOT_ANSWERED else 2.7
        groups.setdefault(status, []).append(
            f'<circle cx="{LEFT + t * x_per_s:.1f}" cy="{y:.1f}" r="{radius}"><title>'
            f"{sample.t_s:.2f} s · {sample.latency_ms:.1f} ms · {label}</title></circle>"
        )
    out: list[str] = []
    # Misses last, so they are drawn on top of everything else.
    for status in sorted(groups, key=lambda s: s == NOT_ANSWERED):
        css = ' class="miss"' if status == NOT_ANSWERED else ""
        out.append(f'<g fill="{status_colour(status)}"{css} data-status="{escape(status)}">')
        out.append("".join(groups[status]))
        out.append("</g>")
    return out


def status_counts(drill: DrillResult) -> Counter[str]:
    """How many samples of each status the chart shows."""
    return Counter(sample_status(s) for s in drill.samples)


def render_timeline(
    drill: DrillResult,
    operator_marks: Sequence[tuple[float, str]] = (),
    time_label: str = "seconds since the drill started",
) -> str:
    """The chart of one drill as an <svg> element; `operator_marks` (seconds, label) are drawn
    as labelled lines of their own (a rehearsal's operator events)."""
    layout = _layout(drill, operator_marks)
    height = f"{layout.height:.0f}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="Draft latency over time: {escape(drill.name)}">',
        *_axes(layout, time_label),
        *_fault_window(drill, layout),
        *_phase_strip(drill, layout),
        *_bound(drill, layout),
        *_milestones(layout),
        *_dots(drill, layout),
        "</svg>",
    ]
    return "\n".join(parts)
