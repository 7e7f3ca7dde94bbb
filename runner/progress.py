"""Listens to the engine: a live line per drill on the terminal; reports written when the run starts
and when it ends, each finished drill appended to the run's journal in between."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from runner.backends.base import Endpoints
from runner.record import ConsumerInfo, DrillResult, Phase, RunRecord, Verdict
from runner.reports.redact import mask_url_credentials
from runner.reports.tables import consumer_label, under_test_label
from runner.text import shorten_at_word

MARKS = {
    Verdict.PASSED: "PASS",
    Verdict.FAILED: "FAIL",
    Verdict.ERROR: "ERROR",
    Verdict.SKIPPED: "SKIP",
    Verdict.NOT_APPLICABLE: "N/A ",
    Verdict.INTERRUPTED: "INTR",
}
COLOURS = {
    Verdict.PASSED: "32",
    Verdict.FAILED: "31",
    Verdict.ERROR: "31",
    Verdict.SKIPPED: "33",
    Verdict.NOT_APPLICABLE: "33",
    Verdict.INTERRUPTED: "33",
}


class Progress:
    """Prints one line per drill (rewritten in place on a TTY as phases advance) and writes reports."""

    def __init__(
        self, out_dir: Path, stream: TextIO | None = None, write_reports: bool = True
    ) -> None:
        self.out_dir = out_dir
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._write = write_reports
        self._current = ""

    def _paint(self, text: str, verdict: Verdict) -> str:
        return f"\x1b[{COLOURS[verdict]}m{text}\x1b[0m" if self.tty else text

    def _save(self, record: RunRecord) -> None:
        if self._write:
            from runner.reports.writer import write_reports

            write_reports(record, self.out_dir)

    def _append(self, result: DrillResult, record: RunRecord) -> None:
        if self._write:
            from runner.reports.journal import append_drill

            append_drill(self.out_dir, result, record)

    def run_started(self, record: RunRecord) -> None:
        self.stream.write(
            f"mkdrill run {record.run_id}: backend {record.backend}, pin {record.pin.release_tag} "
            f"({record.pin.expected_service_contract_version}), candidate {record.releases['candidate']}, "
            f"{_consumer_said(record)}\n"
        )
        self.stream.flush()
        if self._write:
            from runner.reports.journal import start_journal

            start_journal(self.out_dir)
        self._save(record)

    def environment_ready(self, endpoints: Endpoints, toxiproxy_kind: str) -> None:
        consumer = (
            f"reference consumer {endpoints.consumer_url}, " if endpoints.consumer_url else ""
        )
        self.stream.write(
            f"environment up: toxiproxy {toxiproxy_kind} at {mask_url_credentials(endpoints.toxiproxy_url)} "
            f"(MemoryKernel via proxy at http://{endpoints.proxy_listen}), {consumer}"
            f"memorykernel {endpoints.memorykernel_url}\n"
        )
        self.stream.flush()

    def consumer_measured(self, consumer: ConsumerInfo) -> None:
        capacity = consumer.capacity.describe() if consumer.capacity else "not measured"
        pace = ", ".join(f"{phase} {value}" for phase, value in consumer.pace.items())
        self.stream.write(
            f"consumer under test: {under_test_label(consumer)}, pin {consumer.pin} "
            f"({consumer.pin_from}); capacity {capacity}; probe pace {pace}\n"
        )
        for name, why in consumer.not_applied.items():
            self.stream.write(f"  not applied: {name}: {why}\n")
        self.stream.flush()

    def drill_started(self, name: str, index: int, total: int) -> None:
        self._current = f"[{index}/{total}] {name}"
        if self.tty:
            self.stream.write(f"\r\x1b[K{self._current} …")
            self.stream.flush()

    def phase_changed(self, drill: str, phase: Phase) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K{self._current} … {phase.value}")
            self.stream.flush()

    def drill_finished(self, result: DrillResult, record: RunRecord) -> None:
        ttr = (
            f" restore {result.time_to_restore_s:.2f}s"
            if result.time_to_restore_s is not None
            else ""
        )
        reasons = ",".join(sorted(result.fallback_reasons)) or "-"
        mark = self._paint(MARKS[result.verdict], result.verdict)
        if result.expected_red is not None:
            mark += (
                " (expected red)"
                if result.verdict is not Verdict.PASSED
                else " (expected red: now green)"
            )
        line = f"{mark} {self._current} ({result.duration_s:.1f}s, fallback {reasons}{ttr})"
        line += f"\n      consumer: {consumer_label(result)}"
        if result.verdict is not Verdict.PASSED:
            line += f"\n      {shorten_at_word(result.reason)}"
        if result.expected_red is not None:
            line += f"\n      expected red: {shorten_at_word(result.expected_red)}"
        self.stream.write(("\r\x1b[K" if self.tty else "") + line + "\n")
        self.stream.flush()
        self._append(result, record)

    def run_finished(self, record: RunRecord) -> None:
        self._save(record)


def _consumer_said(record: RunRecord) -> str:
    """The run header's consumer part: the reference one's ask body, or which consumer of yours."""
    consumer = record.consumer
    if consumer is None or consumer.kind == "reference":
        return f"ask body {record.settings.get('ask_body')}"
    return f"consumer under test {under_test_label(consumer)}"
