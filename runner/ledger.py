"""The pin ledger and run history: one SQLite file beside the run folders.

A pin's state follows the evidence (`runner.pin_state`): its latest complete gating suite run.
The ledger stores every run with whether it gates, why not, and which MemoryKernel served it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from runner.errors import EnvironmentProblem
from runner.pin_state import (
    PinState,
    RunRef,
    latest_gating,
    memorykernel_identity,
    partial_reason,
    state_of,
)
from runner.pins import Pin
from runner.record import PinInfo, RunRecord, Verdict
from runner.reports.metrics import fault_p95_latency_ms
from runner.reports.redact import Redactor

log = logging.getLogger(__name__)

LEDGER_FILE = "ledger.sqlite3"
DEFAULT_LEDGER_PATH = Path("reports") / LEDGER_FILE
SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 30.0
SEED_RUN = "seed"  # green_run_id of a v1 ledger's seeded pin

_SCHEMA_V1 = """
CREATE TABLE pins (
    pin_key TEXT PRIMARY KEY,               -- SHA-256 of the pin file's raw bytes
    release_tag TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    service_contract_version TEXT NOT NULL,
    api_contract_version TEXT NOT NULL,
    manifest_sha256 TEXT,
    source TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    green_since TEXT,                       -- first time a suite passed on it (or it was seeded)
    last_green_at TEXT,
    green_run_id TEXT                       -- the run that last confirmed it green, or 'seed'
);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    suite TEXT,
    backend TEXT NOT NULL,
    toxiproxy TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    pin_key TEXT NOT NULL REFERENCES pins(pin_key),
    out_dir TEXT NOT NULL,
    report_path TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX runs_by_start ON runs(started_at);
CREATE TABLE drill_results (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    position INTEGER NOT NULL,
    drill TEXT NOT NULL,
    verdict TEXT NOT NULL,
    time_to_restore_s REAL,
    fault_p95_latency_ms REAL,
    fallback_reasons TEXT NOT NULL,         -- JSON object: reason -> samples while the fault was on
    PRIMARY KEY (run_id, drill)
);
CREATE INDEX drill_results_by_drill ON drill_results(drill);
"""
# v2: a pin's state comes from its runs (green_since & co. are no longer written), each run says
# whether it gates and which MemoryKernel served it, and a pin keeps its trio's files and digests.
_MIGRATE_V2 = """
ALTER TABLE pins ADD COLUMN seeded_at TEXT;
ALTER TABLE pins ADD COLUMN manifest_source TEXT;
ALTER TABLE pins ADD COLUMN manifest_file_sha256 TEXT;
ALTER TABLE pins ADD COLUMN matrix_source TEXT;
ALTER TABLE pins ADD COLUMN matrix_sha256 TEXT;
ALTER TABLE runs ADD COLUMN gating INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN partial_reason TEXT;
ALTER TABLE runs ADD COLUMN memorykernel TEXT NOT NULL DEFAULT 'reference';
UPDATE pins SET seeded_at = green_since WHERE green_run_id = 'seed';
UPDATE runs SET gating = 1 WHERE suite IN ('nightly', 'quarterly') AND verdict IN ('passed', 'failed')
    AND finished_at IS NOT NULL;
CREATE INDEX runs_by_pin ON runs(pin_key, started_at)
"""
# v3: incident rehearsals, with their measured times (never a pin's evidence: they gate nothing).
_MIGRATE_V3 = """
CREATE TABLE rehearsals (
    rehearsal_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    scenario TEXT NOT NULL,
    backend TEXT NOT NULL,
    mode TEXT NOT NULL,                     -- interactive or auto
    blind INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    release_tag TEXT NOT NULL,              -- the consumer's pin when the incident began
    time_to_detect_s REAL,
    time_to_restore_s REAL,
    budget_s REAL NOT NULL,
    budget_met INTEGER,
    availability REAL NOT NULL,
    out_dir TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX rehearsals_by_start ON rehearsals(started_at)
"""
_OUR_TABLES = frozenset({"pins", "runs", "drill_results", "rehearsals"})


def ledger_path_for(out_dir: Path) -> Path:
    """The ledger of a run folder: `<out dir's parent>/ledger.sqlite3`."""
    return out_dir.parent / LEDGER_FILE


def utc_now() -> datetime:
    """Wall-clock UTC, the only time a ledger stores."""
    return datetime.now(UTC)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _normalise_time(text: str | None) -> str | None:
    # One spelling for every stored time, so that text order is time order.
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _utc_text(parsed)


@dataclass(frozen=True)
class PinRow:
    """A pin the ledger has seen, its trio, and what its runs say of it."""

    release_tag: str
    commit_sha: str
    service_contract_version: str
    api_contract_version: str
    manifest_sha256: str | None
    pin_file_sha256: str
    source: str
    first_seen: str
    seeded_at: str | None
    manifest_source: str | None
    manifest_file_sha256: str | None
    matrix_source: str | None
    matrix_sha256: str | None
    history: tuple[RunRef, ...] = field(default=())  # newest first

    @property
    def runs(self) -> int:
        """How many runs were recorded on this pin."""
        return len(self.history)

    @property
    def last_run(self) -> RunRef | None:
        """The newest run on this pin, gating or not."""
        return self.history[0] if self.history else None

    @property
    def last_verdict(self) -> Verdict | None:
        """The newest run's verdict."""
        return self.history[0].verdict if self.history else None

    def last_gating_run(self, memorykernel: str | None = None) -> RunRef | None:
        """The newest complete gating run (of one MemoryKernel identity, if given)."""
        return latest_gating(self.history, memorykernel)

    def state(self, memorykernel: str | None = None) -> PinState:
        """green, red, seeded or untested (for one MemoryKernel identity, if given)."""
        return state_of(self.history, self.seeded_at is not None, memorykernel)

    @property
    def green(self) -> bool:
        """Its latest complete gating run passed."""
        return self.state() is PinState.GREEN

    def identities(self) -> list[str]:
        """Every MemoryKernel identity a gating run of this pin ran with, newest first."""
        seen: dict[str, None] = {}
        for run in self.history:
            if run.gating:
                seen.setdefault(run.memorykernel, None)
        return list(seen)


@dataclass(frozen=True)
class RunRow:
    """One recorded run."""

    run_id: str
    started_at: str
    finished_at: str | None
    suite: str | None
    backend: str
    toxiproxy: str
    verdict: Verdict
    reason: str
    release_tag: str
    commit_sha: str
    pin_file_sha256: str
    out_dir: str
    report_path: str


@dataclass(frozen=True)
class DrillRow:
    """One drill's result in one recorded run."""

    run_id: str
    started_at: str
    drill: str
    verdict: Verdict
    time_to_restore_s: float | None
    fault_p95_latency_ms: float | None
    fallback_reasons: dict[str, int]
    release_tag: str
    suite: str | None
    backend: str = ""


@dataclass(frozen=True)
class RehearsalRow:
    """One recorded rehearsal and its measured times."""

    rehearsal_id: str
    started_at: str
    finished_at: str | None
    scenario: str
    backend: str
    mode: str
    blind: bool
    verdict: Verdict
    reason: str
    release_tag: str
    time_to_detect_s: float | None
    time_to_restore_s: float | None
    budget_s: float
    budget_met: bool | None
    availability: float
    out_dir: str


_REHEARSAL_COLUMNS = (
    "rehearsal_id, started_at, finished_at, scenario, backend, mode, blind, verdict, reason, "
    "release_tag, time_to_detect_s, time_to_restore_s, budget_s, budget_met, availability, out_dir"
)


def _pin_values(pin: Pin | PinInfo) -> dict[str, Any]:
    trio: dict[str, Any] = {
        "manifest_source": None,
        "manifest_file_sha256": None,
        "matrix_source": None,
        "matrix_sha256": None,
    }
    if isinstance(pin, PinInfo):
        raw_sha, source = pin.pin_file_sha256, pin.source
        trio = {key: getattr(pin, key) for key in trio}
    else:
        raw_sha, source = pin.raw_sha256, str(pin.source) if pin.source else "(not from a file)"
    values: dict[str, Any] = {
        **trio,
        "release_tag": pin.release_tag,
        "commit_sha": pin.commit_sha,
        "service_contract_version": pin.expected_service_contract_version,
        "api_contract_version": pin.expected_api_contract_version,
        "manifest_sha256": pin.expected_producer_manifest_sha256,
        "source": source,
    }
    if not raw_sha:
        # A pin built in memory has no file bytes; key it by what it says instead.
        fields = "|".join(str(values[k]) for k in sorted(values) if k != "source")
        raw_sha = hashlib.sha256(fields.encode("utf-8")).hexdigest()
    values["pin_key"] = raw_sha
    return values


class Ledger:
    """The SQLite pin ledger and run history. Use with `with`; safe to open from two processes."""

    def __init__(
        self, path: Path, *, create: bool = True, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.path = path
        self._clock = clock
        if not create and not path.exists():
            raise EnvironmentProblem(f"{path}: no ledger yet; run `mkdrill run` first")
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EnvironmentProblem(
                    f"{path}: cannot create the ledger folder ({exc})"
                ) from exc
        try:
            # Autocommit: every write below opens its own BEGIN IMMEDIATE transaction.
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._problem(exc) from exc
        try:
            with self._mapped_errors():
                self._prepare(create)
        except BaseException:
            self._db.close()
            raise

    # Lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection. Safe to call twice."""
        self._db.close()

    # Errors ------------------------------------------------------------------------------------

    def _problem(self, exc: sqlite3.Error) -> EnvironmentProblem:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return EnvironmentProblem(
                f"{self.path}: ledger busy for more than {BUSY_TIMEOUT_S:.0f} s ({text}); "
                "is another mkdrill stuck? try again"
            )
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
            return EnvironmentProblem(
                f"{self.path}: cannot open the ledger ({text}); check the path"
            )
        return EnvironmentProblem(
            f"{self.path}: ledger unreadable or corrupt ({text}); move it aside "
            f"(mv {self.path} {self.path}.broken) to start a new one, history stays in the old file"
        )

    @contextlib.contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._problem(exc) from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two processes queue instead of deadlocking.
        with self._mapped_errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # Schema ------------------------------------------------------------------------------------

    def _prepare(self, create: bool) -> None:
        db = self._db
        db.execute("PRAGMA foreign_keys = ON")
        check = db.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise sqlite3.DatabaseError(
                f"integrity check failed: {check[0] if check else 'no answer'}"
            )
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal" and create:
            db.execute("PRAGMA journal_mode = WAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise EnvironmentProblem(
                f"{self.path}: ledger schema {version} is newer than this mkdrill reads "
                f"({SCHEMA_VERSION}); upgrade mkdrill or point --ledger at another file"
            )
        with self._write() as tx:
            # Another process may have created the schema while we waited for the lock.
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            tables = {r[0] for r in tx.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if version == 0 and tables - _OUR_TABLES:
                raise EnvironmentProblem(
                    f"{self.path}: an SQLite file but not an mkdrill ledger (tables "
                    f"{', '.join(sorted(tables))}); point --ledger elsewhere or move it aside"
                )
            steps = (
                ([_SCHEMA_V1] if version == 0 else [])
                + ([_MIGRATE_V2] if version < 2 else [])
                + ([_MIGRATE_V3] if version < 3 else [])
            )
            for script in steps:
                for statement in script.split(";"):
                    if statement.strip():
                        tx.execute(statement)
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        log.info("created ledger schema %d in %s", SCHEMA_VERSION, self.path)

    # Pins --------------------------------------------------------------------------------------

    def _upsert_pin(self, tx: sqlite3.Connection, values: dict[str, Any]) -> None:
        tx.execute(
            "INSERT INTO pins (pin_key, release_tag, commit_sha, service_contract_version, "
            "api_contract_version, manifest_sha256, source, first_seen, manifest_source, "
            "manifest_file_sha256, matrix_source, matrix_sha256) VALUES (:pin_key, "
            ":release_tag, :commit_sha, :service_contract_version, :api_contract_version, "
            ":manifest_sha256, :source, :first_seen, :manifest_source, :manifest_file_sha256, "
            ":matrix_source, :matrix_sha256) ON CONFLICT(pin_key) DO UPDATE SET "
            # A run that knows the pin's trio fills it in; one that does not keeps what is known.
            "manifest_source = COALESCE(excluded.manifest_source, manifest_source), "
            "manifest_file_sha256 = COALESCE(excluded.manifest_file_sha256, manifest_file_sha256), "
            "matrix_source = COALESCE(excluded.matrix_source, matrix_source), "
            "matrix_sha256 = COALESCE(excluded.matrix_sha256, matrix_sha256)",
            {**values, "first_seen": _utc_text(self._clock())},
        )

    def ensure_seeded(self, pin: Pin | PinInfo) -> None:
        """Record `pin`; on first use (no pin green or seeded yet) it is seeded as the baseline.

        Seeded is not green: only a complete gating run makes a pin green.
        """
        values = _pin_values(pin)
        with self._write() as tx:
            self._upsert_pin(tx, values)
            known = tx.execute(
                "SELECT 1 FROM pins WHERE seeded_at IS NOT NULL UNION "
                "SELECT 1 FROM runs WHERE gating = 1 LIMIT 1"
            ).fetchone()
            if known is None:
                tx.execute(
                    "UPDATE pins SET seeded_at = :at WHERE pin_key = :pin_key",
                    {"at": _utc_text(self._clock()), "pin_key": values["pin_key"]},
                )
                log.info("ledger seeded: %s is the baseline", values["release_tag"])

    def last_green(
        self, memorykernel: str | None = None, exclude: Collection[str] = ()
    ) -> PinRow | None:
        """The most recent pin whose latest gating run passed (of one MemoryKernel, if given).

        `exclude` names pin file SHA-256s to leave out (the pin under drill, for a rollback).
        """
        greens = [
            (run.started_at, index, pin)
            for index, pin in enumerate(self.pins())
            if pin.pin_file_sha256 not in exclude
            and pin.state(memorykernel) is PinState.GREEN
            and (run := pin.last_gating_run(memorykernel)) is not None
        ]
        return max(greens, key=lambda item: (item[0], item[1]))[2] if greens else None

    def last_seeded(self, exclude: Collection[str] = ()) -> PinRow | None:
        """The most recently seeded pin no gating run has judged yet."""
        seeded = [
            (pin.seeded_at or "", index, pin)
            for index, pin in enumerate(self.pins())
            if pin.pin_file_sha256 not in exclude and pin.state() is PinState.SEEDED
        ]
        return max(seeded, key=lambda item: (item[0], item[1]))[2] if seeded else None

    def pins(self) -> list[PinRow]:
        """Every pin seen, oldest first, each with its runs."""
        with self._mapped_errors():
            pins = self._db.execute(
                "SELECT release_tag, commit_sha, service_contract_version, api_contract_version, "
                "manifest_sha256, pin_key, source, first_seen, seeded_at, manifest_source, "
                "manifest_file_sha256, matrix_source, matrix_sha256 FROM pins "
                "ORDER BY first_seen, rowid"
            ).fetchall()
            runs = self._db.execute(
                "SELECT pin_key, run_id, started_at, suite, verdict, gating, partial_reason, "
                "memorykernel FROM runs ORDER BY started_at DESC, rowid DESC"
            ).fetchall()
        history: dict[str, list[RunRef]] = {}
        for row in runs:
            history.setdefault(row[0], []).append(
                RunRef(
                    run_id=row[1],
                    started_at=row[2],
                    suite=row[3],
                    verdict=Verdict(row[4]),
                    gating=bool(row[5]),
                    partial_reason=row[6],
                    memorykernel=row[7],
                )
            )
        return [
            PinRow(
                release_tag=row[0],
                commit_sha=row[1],
                service_contract_version=row[2],
                api_contract_version=row[3],
                manifest_sha256=row[4],
                pin_file_sha256=row[5],
                source=row[6],
                first_seen=row[7],
                seeded_at=row[8],
                manifest_source=row[9],
                manifest_file_sha256=row[10],
                matrix_source=row[11],
                matrix_sha256=row[12],
                history=tuple(history.get(row[5], ())),
            )
            for row in pins
        ]

    # Runs --------------------------------------------------------------------------------------

    def record_run(self, record: RunRecord, out_dir: Path) -> None:
        """Store a run and its drills (replacing an earlier copy); a complete gating run decides."""
        values = _pin_values(record.pin)
        why_partial = partial_reason(record)
        redactor = Redactor.for_report(record.settings)
        now = _utc_text(self._clock())
        run = {
            "run_id": record.run_id,
            "started_at": _normalise_time(record.started_at),
            "finished_at": _normalise_time(record.finished_at),
            "suite": record.suite,
            "backend": record.backend,
            "toxiproxy": redactor.redact_text(record.toxiproxy),
            "verdict": record.verdict.value,
            "reason": redactor.redact_text(record.reason),
            "pin_key": values["pin_key"],
            "out_dir": str(out_dir),
            "report_path": str(out_dir / "report.json"),
            "recorded_at": now,
            "gating": 1 if why_partial is None else 0,
            "partial_reason": why_partial,
            "memorykernel": memorykernel_identity(record),
        }
        drills = [
            (
                record.run_id,
                position,
                drill.name,
                drill.verdict.value,
                drill.time_to_restore_s,
                fault_p95_latency_ms(drill),
                json.dumps(drill.fallback_reasons, sort_keys=True),
            )
            for position, drill in enumerate(record.drills)
        ]
        with self._write() as tx:
            self._upsert_pin(tx, values)
            tx.execute(
                "INSERT INTO runs (run_id, started_at, finished_at, suite, backend, toxiproxy, "
                "verdict, reason, pin_key, out_dir, report_path, recorded_at, gating, "
                "partial_reason, memorykernel) VALUES (:run_id, :started_at, :finished_at, :suite, "
                ":backend, :toxiproxy, :verdict, :reason, :pin_key, :out_dir, :report_path, "
                ":recorded_at, :gating, :partial_reason, :memorykernel) "
                "ON CONFLICT(run_id) DO UPDATE SET finished_at = excluded.finished_at, "
                "suite = excluded.suite, verdict = excluded.verdict, reason = excluded.reason, "
                "pin_key = excluded.pin_key, out_dir = excluded.out_dir, "
                "report_path = excluded.report_path, recorded_at = excluded.recorded_at, "
                "gating = excluded.gating, partial_reason = excluded.partial_reason, "
                "memorykernel = excluded.memorykernel",
                run,
            )
            tx.execute("DELETE FROM drill_results WHERE run_id = ?", (record.run_id,))
            tx.executemany("INSERT INTO drill_results VALUES (?, ?, ?, ?, ?, ?, ?)", drills)
            if why_partial is None:
                log.info(
                    "pin %s is %s after run %s",
                    values["release_tag"],
                    "green" if record.verdict is Verdict.PASSED else "red",
                    record.run_id,
                )

    def runs(self, last: int) -> list[RunRow]:
        """The `last` runs, newest first."""
        query = """
            SELECT r.run_id, r.started_at, r.finished_at, r.suite, r.backend, r.toxiproxy,
                   r.verdict, r.reason, p.release_tag, p.commit_sha, p.pin_key, r.out_dir,
                   r.report_path
            FROM runs r JOIN pins p ON p.pin_key = r.pin_key
            ORDER BY r.started_at DESC, r.rowid DESC LIMIT ?"""
        with self._mapped_errors():
            rows = self._db.execute(query, (max(last, 0),)).fetchall()
        return [
            RunRow(
                run_id=row[0],
                started_at=row[1],
                finished_at=row[2],
                suite=row[3],
                backend=row[4],
                toxiproxy=row[5],
                verdict=Verdict(row[6]),
                reason=row[7],
                release_tag=row[8],
                commit_sha=row[9],
                pin_file_sha256=row[10],
                out_dir=row[11],
                report_path=row[12],
            )
            for row in rows
        ]

    def drill_history(self, drill: str | None, last: int) -> list[DrillRow]:
        """Each drill's `last` results per backend (or one drill's), grouped by drill and backend, newest first."""
        query = """
            SELECT run_id, started_at, drill, verdict, time_to_restore_s, fault_p95_latency_ms,
                   fallback_reasons, release_tag, suite, backend
            FROM (
                SELECT d.run_id, r.started_at, d.drill, d.verdict, d.time_to_restore_s,
                       d.fault_p95_latency_ms, d.fallback_reasons, p.release_tag, r.suite,
                       r.backend,
                       ROW_NUMBER() OVER (
                           PARTITION BY d.drill, r.backend
                           ORDER BY r.started_at DESC, r.rowid DESC
                       ) AS recent
                FROM drill_results d
                JOIN runs r ON r.run_id = d.run_id
                JOIN pins p ON p.pin_key = r.pin_key
                WHERE :drill IS NULL OR d.drill = :drill
            )
            WHERE recent <= :last
            ORDER BY drill, backend, started_at DESC"""
        with self._mapped_errors():
            rows = self._db.execute(query, {"drill": drill, "last": max(last, 0)}).fetchall()
        return [
            DrillRow(
                run_id=row[0],
                started_at=row[1],
                drill=row[2],
                verdict=Verdict(row[3]),
                time_to_restore_s=row[4],
                fault_p95_latency_ms=row[5],
                fallback_reasons=json.loads(row[6]),
                release_tag=row[7],
                suite=row[8],
                backend=row[9],
            )
            for row in rows
        ]

    # Rehearsals --------------------------------------------------------------------------------

    def record_rehearsal(self, row: RehearsalRow) -> None:
        """Store a rehearsal (replacing an earlier copy of it)."""
        values = {
            **row.__dict__,
            "started_at": _normalise_time(row.started_at),
            "finished_at": _normalise_time(row.finished_at),
            "blind": int(row.blind),
            "verdict": row.verdict.value,
            "budget_met": None if row.budget_met is None else int(row.budget_met),
            "recorded_at": _utc_text(self._clock()),
        }
        names = [*_REHEARSAL_COLUMNS.split(", "), "recorded_at"]
        with self._write() as tx:
            tx.execute(
                f"INSERT OR REPLACE INTO rehearsals ({', '.join(names)}) "
                f"VALUES ({', '.join(':' + n for n in names)})",
                values,
            )

    def rehearsals(self, last: int) -> list[RehearsalRow]:
        """The `last` rehearsals, newest first."""
        with self._mapped_errors():
            rows = self._db.execute(
                f"SELECT {_REHEARSAL_COLUMNS} FROM rehearsals "
                "ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (max(last, 0),),
            ).fetchall()
        return [
            RehearsalRow(
                rehearsal_id=row[0],
                started_at=row[1],
                finished_at=row[2],
                scenario=row[3],
                backend=row[4],
                mode=row[5],
                blind=bool(row[6]),
                verdict=Verdict(row[7]),
                reason=row[8],
                release_tag=row[9],
                time_to_detect_s=row[10],
                time_to_restore_s=row[11],
                budget_s=row[12],
                budget_met=None if row[13] is None else bool(row[13]),
                availability=row[14],
                out_dir=row[15],
            )
            for row in rows
        ]
