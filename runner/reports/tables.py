"""Rows of the run tables (header, drills, failed assertions) for Markdown, HTML and terminal."""

from __future__ import annotations

from runner.record import ConsumerInfo, DrillResult, RunRecord, Verdict
from runner.reports.metrics import fault_availability, fault_p95_latency_ms
from runner.reports.redact import mask_url_credentials

DASH = "—"
DRILL_HEADERS = (
    "drill",
    "verdict",
    "fault",
    "consumer",
    "fallback reasons",
    "other fallbacks (not judged)",
    "availability",
    "p95 latency / bound",
    "time to restore / budget",
)
ASSERTION_HEADERS = ("drill", "assertion", "phase", "expected", "observed")


def format_ms(value: float | None) -> str:
    """Milliseconds for people: one decimal below 10 ms, whole numbers above."""
    if value is None:
        return DASH
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def format_s(value: float | None) -> str:
    """Seconds for people: two decimals, three below 0.1 s (restores can take milliseconds)."""
    if value is None:
        return DASH
    return f"{value:.3f} s" if abs(value) < 0.1 else f"{value:.2f} s"


def short_sha(sha: str | None) -> str:
    """The first 12 hex digits, enough to tell commits and files apart in a table."""
    return sha[:12] if sha else DASH


def ask_body(record: RunRecord) -> str:
    """Which ask body the consumer sent (contract §3.4): the run's, and each drill that sent another."""
    if record.consumer is not None and record.consumer.kind != "reference":
        return "its own (mkdrill cannot choose the ask body of your consumer)"
    run_body = next(
        (
            record.settings[key]
            for key in ("ask_body", "consumer.ask_body", "MKDRILL_ASK_BODY")
            if record.settings.get(key)
        ),
        None,
    )
    by_drill = {d.name: d.consumer["ask_body"] for d in record.drills if d.consumer.get("ask_body")}
    if run_body is None:
        bodies = sorted(set(by_drill.values()))
        return ", ".join(bodies) if bodies else DASH
    others = [f"{name}: {body}" for name, body in by_drill.items() if body != run_body]
    return f"{run_body} (run default; {'; '.join(others)})" if others else run_body


def memorykernel_rows(record: RunRecord) -> list[tuple[str, str]]:
    """One (field, value) per release: which MemoryKernel served it, its contract and digest."""
    return [
        (
            f"memorykernel {release}",
            f"{who.kind} {who.name} ({who.service_contract_version or 'health never asked'}), "
            f"{who.digest}",
        )
        for release, who in sorted(record.memorykernel.items())
    ]


def under_test_label(consumer: ConsumerInfo) -> str:
    """`the reference consumer`, `your consumer at URL`, `your command 'CMD'`."""
    if consumer.kind == "reference":
        return "the reference consumer"
    if consumer.kind == "url":
        return f"your consumer at {mask_url_credentials(consumer.target)}"
    return f"your command {consumer.target!r}"


def consumer_rows(record: RunRecord) -> list[tuple[str, str]]:
    """The consumer under test: which, its pin, its capacity and the probe's pace, what was not applied."""
    consumer = record.consumer
    if consumer is None:
        return []
    restart = f", restarted by {consumer.restart_command!r}" if consumer.restart_command else ""
    rows = [
        ("consumer under test", f"{under_test_label(consumer)}{restart}"),
        ("consumer pin", f"{consumer.pin} ({consumer.pin_from})"),
        (
            "consumer capacity",
            f"{consumer.capacity.describe()} with MemoryKernel healthy"
            if consumer.capacity is not None
            else "not measured",
        ),
    ]
    if consumer.pace:
        rows.append(("probe pace", ", ".join(f"{k} {v}" for k, v in consumer.pace.items())))
    rows += [(f"not applied: {name}", why) for name, why in consumer.not_applied.items()]
    return rows


def header_rows(record: RunRecord) -> list[tuple[str, str]]:
    """Run header as (field, value) pairs."""
    pin = record.pin
    return [
        ("run", record.run_id),
        (
            "verdict",
            f"{record.verdict.value}: {record.reason}" if record.reason else record.verdict.value,
        ),
        ("suite", record.suite or DASH),
        (
            "pin",
            f"{pin.release_tag} @ {short_sha(pin.commit_sha)} "
            f"({pin.expected_service_contract_version}/{pin.expected_api_contract_version}) "
            f"from {pin.source}",
        ),
        ("releases", ", ".join(f"{role} {tag}" for role, tag in record.releases.items()) or DASH),
        *memorykernel_rows(record),
        ("backend", record.backend),
        ("toxiproxy", record.toxiproxy),
        ("consumer ask body", ask_body(record)),
        *consumer_rows(record),
        ("started", record.started_at),
        ("finished", record.finished_at or DASH),
        ("mkdrill", record.tool_version),
    ]


def fault_label(drill: DrillResult) -> str:
    """The fault kind, as the drill file named it."""
    kind = drill.fault.get("kind") if drill.fault else None
    if isinstance(kind, str) and kind:
        return kind
    return drill.fault_window.kind if drill.fault_window else DASH


def reasons_label(reasons: dict[str, int]) -> str:
    """`offline (120), timeout (3)`, most frequent first."""
    if not reasons:
        return DASH
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{reason} ({count})" for reason, count in ordered)


def availability_label(drill: DrillResult) -> str:
    """Answered Drafts while the fault was on, as a percentage and a count."""
    figures = fault_availability(drill)
    if figures is None:
        return DASH
    answered, total = figures
    return f"{100.0 * answered / total:.1f}% ({answered}/{total})"


def latency_label(drill: DrillResult) -> str:
    """Fault-window p95 against the drill's latency bound, flagged when over."""
    p95 = fault_p95_latency_ms(drill)
    if p95 is None:
        return f"{DASH} / {format_ms(drill.latency_bound_ms)}"
    over = " OVER" if p95 > drill.latency_bound_ms else ""
    return f"{format_ms(p95)} / {format_ms(drill.latency_bound_ms)}{over}"


def restore_label(drill: DrillResult) -> str:
    """Time to restore against its budget, or `never` when the first enriched Draft never came."""
    ttr = drill.time_to_restore
    if ttr is None:
        return DASH
    if ttr.total_s is None:
        return f"never / {format_s(ttr.budget_s)}"
    over = "" if ttr.within_budget else " OVER"
    return f"{format_s(ttr.total_s)} / {format_s(ttr.budget_s)}{over}"


def verdict_label(drill: DrillResult) -> str:
    """The verdict, marked when the drill is red by design (its file says why)."""
    if drill.expected_red is None:
        return drill.verdict.value
    if drill.verdict is Verdict.PASSED:
        return "passed (expected red: now green)"
    return f"{drill.verdict.value} (expected red)"


def consumer_label(drill: DrillResult) -> str:
    """The consumer settings the drill actually ran with: pin, timeout (and where from), ask body."""
    consumer = drill.consumer
    if not consumer:
        return DASH
    parts = []
    if consumer.get("pin"):
        parts.append(f"pin {consumer['pin']}")
    if consumer.get("timeout_ms"):
        source = consumer.get("timeout_source")
        parts.append(f"timeout {consumer['timeout_ms']} ms" + (f" ({source})" if source else ""))
    if consumer.get("ask_body"):
        parts.append(f"{consumer['ask_body']} ask body")
    if consumer.get("defect") and consumer["defect"] != "none":
        parts.append(f"defect {consumer['defect']}")
    return ", ".join(parts) or DASH


def drill_row(drill: DrillResult) -> list[str]:
    """One row of the drill table, in DRILL_HEADERS order."""
    return [
        drill.name,
        verdict_label(drill),
        fault_label(drill),
        consumer_label(drill),
        reasons_label(drill.fallback_reasons),
        reasons_label(drill.other_fallback_reasons),
        availability_label(drill),
        latency_label(drill),
        restore_label(drill),
    ]


def drill_rows(record: RunRecord) -> list[list[str]]:
    """The drill table, in run order."""
    return [drill_row(drill) for drill in record.drills]


def failed_assertion_rows(record: RunRecord) -> list[list[str]]:
    """Every failed assertion with what was expected and what was observed."""
    return [
        [drill.name, check.name, check.phase.value, check.expected, check.observed]
        for drill in record.drills
        for check in drill.assertions
        if not check.passed
    ]
