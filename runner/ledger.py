"""The pin ledger and run history: one SQLite file beside the run folders."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from runner.errors import EnvironmentProblem
from runner.pins import Pin
from runner.record import PinInfo, RunRecord, Verdict
from runner.reports.metrics import fault_p95_latency_ms
from runner.reports.redact import Redactor

log = logging.getLogger(__name__)

LEDGER_FILE = "ledger.sqlite3"
DEFAULT_LEDGER_PATH = Path("reports") / LEDGER_FILE
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
SEED_RUN = "seed"  # green_run_id of a pin made green by ensure_seeded, not by a run

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
_OUR_TABLES = frozenset({"pins", "runs", "drill_results"})


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
    """A pin the ledger has seen, and whether (and since when) it is green."""

    release_tag: str
    commit_sha: str
    service_contract_version: str
    api_contract_version: str
    manifest_sha256: str | None
    pin_file_sha256: str
    source: str
    first_seen: str
    green_since: str | None
    last_green_at: str | None
    green_run_id: str | None
    runs: int
    last_verdict: Verdict | None

    @property
    def green(self) -> bool:
        """A suite run passed on this pin, or it was seeded as the baseline."""
        return self.green_since is not None


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


def _pin_values(pin: Pin | PinInfo) -> dict[str, Any]:
    if isinstance(pin, PinInfo):
        raw_sha, source = pin.pin_file_sha256, pin.source
    else:
        raw_sha, source = pin.raw_sha256, str(pin.source) if pin.source else "(not from a file)"
    values: dict[str, Any] = {
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
            if version == 0:
                for statement in _SCHEMA_V1.split(";"):
                    if statement.strip():
                        tx.execute(statement)
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        log.info("created ledger schema %d in %s", SCHEMA_VERSION, self.path)

    # Pins --------------------------------------------------------------------------------------

    def _upsert_pin(self, tx: sqlite3.Connection, values: dict[str, Any]) -> None:
        tx.execute(
            "INSERT INTO pins (pin_key, release_tag, commit_sha, service_contract_version, "
            "api_contract_version, manifest_sha256, source, first_seen) VALUES (:pin_key, "
            ":release_tag, :commit_sha, :service_contract_version, :api_contract_version, "
            ":manifest_sha256, :source, :first_seen) ON CONFLICT(pin_key) DO NOTHING",
            {**values, "first_seen": _utc_text(self._clock())},
        )

    def _mark_green(self, tx: sqlite3.Connection, pin_key: str, at: str, run_id: str) -> None:
        tx.execute(
            "UPDATE pins SET green_since = COALESCE(green_since, :at), last_green_at = :at, "
            "green_run_id = :run_id WHERE pin_key = :pin_key",
            {"at": at, "run_id": run_id, "pin_key": pin_key},
        )

    def ensure_seeded(self, pin: Pin | PinInfo) -> None:
        """Record `pin`; on first use (no green pin yet) it becomes the green baseline."""
        values = _pin_values(pin)
        with self._write() as tx:
            self._upsert_pin(tx, values)
            green = tx.execute(
                "SELECT 1 FROM pins WHERE green_since IS NOT NULL LIMIT 1"
            ).fetchone()
            if green is None:
                self._mark_green(tx, values["pin_key"], _utc_text(self._clock()), SEED_RUN)
                log.info("ledger seeded: %s is the green baseline", values["release_tag"])

    def last_green(self) -> PinRow | None:
        """The pin that turned green most recently, if any."""
        rows = self._pin_rows("WHERE p.green_since IS NOT NULL", "p.green_since DESC, p.rowid DESC")
        return rows[0] if rows else None

    def pins(self) -> list[PinRow]:
        """Every pin seen, oldest first."""
        return self._pin_rows("", "p.first_seen, p.rowid")

    def _pin_rows(self, where: str, order: str) -> list[PinRow]:
        query = f"""
            SELECT p.release_tag, p.commit_sha, p.service_contract_version, p.api_contract_version,
                   p.manifest_sha256, p.pin_key, p.source, p.first_seen, p.green_since,
                   p.last_green_at, p.green_run_id,
                   (SELECT COUNT(*) FROM runs r WHERE r.pin_key = p.pin_key),
                   (SELECT r.verdict FROM runs r WHERE r.pin_key = p.pin_key
                     ORDER BY r.started_at DESC LIMIT 1)
            FROM pins p {where} ORDER BY {order}"""
        with self._mapped_errors():
            rows = self._db.execute(query).fetchall()
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
                green_since=row[8],
                last_green_at=row[9],
                green_run_id=row[10],
                runs=row[11],
                last_verdict=Verdict(row[12]) if row[12] else None,
            )
            for row in rows
        ]

    # Runs --------------------------------------------------------------------------------------

    def record_run(self, record: RunRecord, out_dir: Path) -> None:
        """Store a run and its drills (replacing an earlier copy); a passed suite greens its pin."""
        values = _pin_values(record.pin)
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
                "INSERT INTO runs VALUES (:run_id, :started_at, :finished_at, :suite, :backend, "
                ":toxiproxy, :verdict, :reason, :pin_key, :out_dir, :report_path, :recorded_at) "
                "ON CONFLICT(run_id) DO UPDATE SET finished_at = excluded.finished_at, "
                "suite = excluded.suite, verdict = excluded.verdict, reason = excluded.reason, "
                "pin_key = excluded.pin_key, out_dir = excluded.out_dir, "
                "report_path = excluded.report_path, recorded_at = excluded.recorded_at",
                run,
            )
            tx.execute("DELETE FROM drill_results WHERE run_id = ?", (record.run_id,))
            tx.executemany("INSERT INTO drill_results VALUES (?, ?, ?, ?, ?, ?, ?)", drills)
            if record.verdict == Verdict.PASSED and record.suite is not None:
                self._mark_green(tx, values["pin_key"], now, record.run_id)
                log.info("pin %s is green after run %s", values["release_tag"], record.run_id)

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
