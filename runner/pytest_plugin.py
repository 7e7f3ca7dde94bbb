"""Drills as pytest items: `pytest drills/` runs each drill file as a test, all in one `mkdrill run`.

The session's drill items (after `-k`/`-m`/deselection) become the drills of one mkdrill run: one
lock, one environment, the usual reports and ledger entry. pytest decides order and stopping
(`-x`), reports each drill as a test (`--junitxml`, `-v`, `-rA`), and mkdrill keeps everything else.
In a suite of your own, `@pytest.mark.mkdrill("disabled")` on a test asks for a drill run there;
the `mkdrill_drill` fixture hands the test its DrillResult. Options of `mkdrill run` go in
`--mkdrill-run "..."` (or the `mkdrill_run` ini setting); `MKDRILL_*` variables apply as usual.

Only the pytest import happens when pytest loads this plugin; mkdrill itself is imported once a drill
file is collected, so a suite without drills pays nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from runner.engine import DrillRunner
    from runner.loader import LoadedDrill
    from runner.record import DrillResult

DRILL_SUFFIXES = (".yaml", ".yml")
CATALOG_FOLDER = "drills"
MARKER = "mkdrill"
SESSION_PLUGIN = "mkdrill-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mkdrill", "mkdrill: drills as test items")
    group.addoption(
        "--mkdrill-run",
        dest="mkdrill_run",
        default=None,
        metavar="OPTIONS",
        help='Options for the session\'s `mkdrill run`, e.g. "--backend compose --consumer-timeout-ms 500".',
    )
    parser.addini("mkdrill_run", "Options for the session's `mkdrill run` (as --mkdrill-run).")
    parser.addini(
        "mkdrill_drills",
        "Drill files or folders whose YAML files are collected as drill items.",
        type="paths",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(drill): run this drill (a catalog name or a drill file) in the session's mkdrill "
        "run; the `mkdrill_drill` fixture gives the test its result",
    )
    config.pluginmanager.register(DrillSession(config), SESSION_PLUGIN)


def _is_drill_file(path: Path, config: pytest.Config) -> bool:
    """A YAML file in a `drills/` folder, named on the command line, or under `mkdrill_drills`."""
    if path.suffix not in DRILL_SUFFIXES:
        return False
    if path.parent.name == CATALOG_FOLDER:
        return True
    resolved = path.resolve()
    base = config.invocation_params.dir
    named = {(base / arg.split("::", 1)[0]).resolve() for arg in config.args}
    if resolved in named:
        return True
    roots: list[Path] = [Path(p).resolve() for p in config.getini("mkdrill_drills")]
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not _is_drill_file(file_path, parent.config):
        return None
    drill_file: DrillFile = DrillFile.from_parent(parent, path=file_path)
    return drill_file


class DrillFile(pytest.File):
    """One drill file: validated as `mkdrill validate` would, then one item."""

    def collect(self) -> Iterator[DrillItem]:
        from runner.errors import DefinitionError
        from runner.loader import load_drills

        try:
            (loaded,) = load_drills([self.path])
        except DefinitionError as exc:
            raise self.CollectError(str(exc)) from None
        item: DrillItem = DrillItem.from_parent(self, name=loaded.drill.name, loaded=loaded)
        yield item


class DrillFailed(Exception):
    """A drill ended red (or in error); the message is the drill's reason and failed checks."""


class DrillItem(pytest.Item):
    """One drill as a test: it passes when the drill passes in the session's run."""

    def __init__(self, *, loaded: LoadedDrill, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        # `-k nightly` picks drills of a suite, `-k latency` by name.
        self.extra_keyword_matches.update(loaded.drill.suites)

    def runtest(self) -> None:
        session = drill_session(self.config)
        result = session.run(self.loaded)
        properties = session.properties(result)
        self.user_properties.extend(properties)
        judge(result, dict(properties).get("mkdrill_reports"))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, DrillFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"drill {self.loaded.drill.name}"


def judge(result: DrillResult, reports: str | None = None) -> None:
    """Turn a drill result into the test outcome: pass, skip or DrillFailed with the evidence."""
    from runner.record import Verdict

    if result.verdict is Verdict.PASSED:
        return
    if result.verdict is Verdict.SKIPPED:
        pytest.skip(result.reason)
    if result.verdict is Verdict.FAILED and result.expected_red is not None:
        pytest.xfail(f"expected red: {result.expected_red}")
    lines = [f"drill {result.name} {result.verdict.value}: {result.reason}"]
    lines += [
        f"  {a.phase.value} {a.name}: expected {a.expected}; observed {a.observed}"
        for a in result.assertions
        if not a.passed
    ]
    if reports:
        lines.append(f"  evidence: {reports}/report.html")
    raise DrillFailed("\n".join(lines))


@pytest.fixture
def mkdrill_drill(request: pytest.FixtureRequest) -> DrillResult:
    """The result of the drill named by the test's `@pytest.mark.mkdrill(...)`, run in the session's run."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f'{request.node.nodeid}: mkdrill_drill needs @pytest.mark.{MARKER}("<drill>")'
        )
    session = drill_session(request.config)
    return session.run(session.marked_drill(request.node))


def drill_session(config: pytest.Config) -> DrillSession:
    """The plugin object of this session."""
    session = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    assert isinstance(session, DrillSession)
    return session


class DrillSession:
    """Runs the session's drills in one `mkdrill run`, driven item by item by pytest's loop."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._runner: DrillRunner | None = None
        self._drove = False
        self._failure: str | None = None
        self._marked: dict[str, LoadedDrill] = {}
        self.out_dir: Path | None = None
        self.error: str | None = None

    # Planning ----------------------------------------------------------------------------------

    def _drills_of(self, items: list[pytest.Item]) -> list[LoadedDrill]:
        drills: list[LoadedDrill] = []
        for item in items:
            if isinstance(item, DrillItem):
                drills.append(item.loaded)
            elif (marker := item.get_closest_marker(MARKER)) is not None and marker.args:
                drills.append(self._resolve(item.nodeid, str(marker.args[0])))
        unique = {d.drill.name: d for d in drills}
        return list(unique.values())

    def _resolve(self, nodeid: str, ref: str) -> LoadedDrill:
        from runner.errors import DefinitionError
        from runner.loader import default_drills_dir, load_drills, select_drills

        try:
            (loaded,) = select_drills(load_drills([default_drills_dir()]), [ref], None)
        except DefinitionError as exc:
            raise pytest.UsageError(f"{nodeid}: @pytest.mark.{MARKER}({ref!r}): {exc}") from None
        self._marked[nodeid] = loaded
        return loaded

    def marked_drill(self, item: pytest.Item) -> LoadedDrill:
        """The drill a marked test asked for (resolved when the run was planned)."""
        return self._marked[item.nodeid]

    # The run -----------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if session.config.option.collectonly or (
            session.testsfailed and not session.config.option.continue_on_collection_errors
        ):
            return None  # pytest's own loop reports collection errors and stops
        drills = self._drills_of(session.items)
        if not drills:
            return None
        self._execute(session, drills)
        return True

    def _execute(self, session: pytest.Session, drills: list[LoadedDrill]) -> None:
        from runner.cli import app
        from runner.errors import DrillError, Interrupted
        from runner.run_command import DRIVEN, DrivenRun

        stopped: list[BaseException] = []
        driven = DrivenRun(drive=lambda runner: self._drive(session, runner, stopped))
        options = shlex.split(
            self.config.getoption("mkdrill_run") or str(self.config.getini("mkdrill_run") or "")
        )
        token = DRIVEN.set(driven)
        try:
            app(
                args=["run", *options, *[str(d.path) for d in drills]],
                prog_name="mkdrill",
                standalone_mode=False,
            )
        except Interrupted:
            raise KeyboardInterrupt from None
        except DrillError as exc:
            self.error = f"mkdrill: {exc}"
            if not self._drove:  # it never started: every drill says why
                self._failure = self.error
                self._drive(session, None, stopped)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] not in ("click", "typer"):
                raise
            raise pytest.UsageError(f"--mkdrill-run: {' '.join(str(exc).split())}") from None
        finally:
            DRIVEN.reset(token)
            self.out_dir = driven.out_dir
        for stop in stopped:
            raise stop

    def _drive(
        self, session: pytest.Session, runner: DrillRunner | None, stopped: list[BaseException]
    ) -> None:
        """pytest's own loop over the items, inside the mkdrill run."""
        from runner.errors import Interrupted

        self._drove = True
        self._runner = runner
        try:
            for index, item in enumerate(session.items):
                following = session.items[index + 1] if index + 1 < len(session.items) else None
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
                if session.shouldfail:
                    raise session.Failed(session.shouldfail)
                if session.shouldstop:
                    raise session.Interrupted(session.shouldstop)
        except (session.Failed, session.Interrupted) as exc:
            stopped.append(exc)  # -x / --maxfail: the run ends normally, the rest recorded not run
        except KeyboardInterrupt:
            raise Interrupted("interrupted (KeyboardInterrupt in pytest)") from None
        finally:
            self._runner = None

    def run(self, loaded: LoadedDrill) -> DrillResult:
        """Run one drill in the session's run (called from inside an item)."""
        from runner.errors import EnvironmentProblem, Interrupted

        if self._runner is None:
            raise EnvironmentProblem(self._failure or "no mkdrill run is driving this session")
        try:
            return self._runner(loaded)
        except Interrupted:
            raise KeyboardInterrupt from None

    def properties(self, result: DrillResult) -> list[tuple[str, str]]:
        """JUnit properties of a drill item: verdict, time-to-restore, where the reports are."""
        from runner.run_command import DRIVEN

        found = [("verdict", result.verdict.value)]
        if result.time_to_restore_s is not None:
            found.append(("time_to_restore_s", f"{result.time_to_restore_s:.3f}"))
        driven = DRIVEN.get()
        if driven is not None and driven.out_dir is not None:
            found.append(("mkdrill_reports", str(driven.out_dir)))
        return found

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.out_dir is not None:
            terminalreporter.write_line(f"mkdrill reports: {self.out_dir}")
        if self.error is not None:
            terminalreporter.write_line(self.error, red=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.error is not None and session.exitstatus == 0:
            session.exitstatus = 3  # the environment broke after every item had passed
