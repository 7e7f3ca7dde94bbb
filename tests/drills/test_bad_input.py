"""Bad drill input of every kind: one line naming file and field, exit 2, nothing started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from runner.cli import app
from runner.errors import DefinitionError
from runner.loader import MAX_FILE_BYTES, DrillFilesInvalid, load_drills, parse_drill_text

VALID = """\
name: sample
description: a valid drill
suites: [nightly]
fault: {kind: stop}
window_s: 2
expect:
  during: fallback
  fallback_reasons: [offline]
recover: {kind: remove_fault, budget_s: 5}
"""


def variant(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


# (case id, drill text, expected "field: message" fragment)
CASES: list[tuple[str, str, str]] = [
    ("yaml-unclosed-list", "name: [a\n", "YAML error at line"),
    ("yaml-bad-indent", "name: a\n  description: b\n c: d\n", "YAML error"),
    ("yaml-tab", "name: a\n\tdescription: b\n", "YAML error"),
    ("yaml-duplicate-colon", "name: a: b\n", "YAML error"),
    ("empty-file", "", "this one is empty"),
    ("scalar-file", "just text\n", "this one is a str"),
    ("list-file", "- a\n- b\n", "this one is a list"),
    ("unsafe-python-tag", "!!python/object/apply:os.system ['true']\n", "no tags"),
    ("unsafe-python-name", "name: !!python/name:os.system\n", "no tags"),
    ("unknown-tag", "name: !custom x\n", "no tags"),
    (
        "alias-bomb",
        "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n",
        "YAML aliases",
    ),
    (
        "unknown-fault-kind",
        variant("{kind: stop}", "{kind: meteor}"),
        "fault.kind: unknown fault kind 'meteor'",
    ),
    (
        "missing-fault-kind",
        variant("{kind: stop}", "{latency_ms: 5}"),
        "fault.kind: required field is missing",
    ),
    ("missing-name", VALID.replace("name: sample\n", ""), "name: required field is missing"),
    (
        "missing-description",
        VALID.replace("description: a valid drill\n", ""),
        "description: required field is missing",
    ),
    (
        "missing-suites",
        VALID.replace("suites: [nightly]\n", ""),
        "suites: required field is missing",
    ),
    (
        "missing-fault",
        VALID.replace("fault: {kind: stop}\n", ""),
        "fault: required field is missing",
    ),
    (
        "missing-expect",
        VALID.split("expect:")[0] + "recover: {kind: remove_fault}\n",
        "expect: required field is missing",
    ),
    ("extra-top-field", VALID + "colour: red\n", "colour: unknown field"),
    (
        "extra-fault-field",
        variant("{kind: stop}", "{kind: stop, force: true}"),
        "fault.force: unknown field",
    ),
    (
        "extra-expect-field",
        variant("  during: fallback\n", "  during: fallback\n  sometimes: yes\n"),
        "expect.sometimes: unknown field",
    ),
    (
        "negative-window",
        variant("window_s: 2", "window_s: -5"),
        "window_s: must be greater than 0 (got -5)",
    ),
    ("zero-window", variant("window_s: 2", "window_s: 0"), "window_s: must be greater than 0"),
    (
        "absurd-window",
        variant("window_s: 2", "window_s: 86400"),
        "window_s: must be less than or equal to 600",
    ),
    ("window-not-number", variant("window_s: 2", "window_s: soon"), "window_s: "),
    ("window-list", variant("window_s: 2", "window_s: [2]"), "window_s: "),
    (
        "negative-budget",
        variant("budget_s: 5", "budget_s: -1"),
        "recover.budget_s: must be greater than 0",
    ),
    (
        "absurd-budget",
        variant("budget_s: 5", "budget_s: 99999"),
        "recover.budget_s: must be less than or equal to 900",
    ),
    (
        "negative-latency",
        variant("{kind: stop}", "{kind: latency, latency_ms: -5}"),
        "fault.latency_ms: must be greater than 0 (got -5)",
    ),
    (
        "absurd-latency",
        variant("{kind: stop}", "{kind: latency, latency_ms: 99999999}"),
        "fault.latency_ms: must be less than or equal to",
    ),
    (
        "latency-string",
        variant("{kind: stop}", "{kind: latency, latency_ms: slow}"),
        "fault.latency_ms: ",
    ),
    (
        "negative-jitter",
        variant("{kind: stop}", "{kind: latency, latency_ms: 5, jitter_ms: -1}"),
        "fault.jitter_ms: must be greater than or equal to 0",
    ),
    (
        "bad-stream",
        variant("{kind: stop}", "{kind: latency, latency_ms: 5, stream: sideways}"),
        "fault.stream: ",
    ),
    (
        "zero-bandwidth",
        variant("{kind: stop}", "{kind: bandwidth, rate_kb_s: 0}"),
        "fault.rate_kb_s: must be greater than 0",
    ),
    (
        "negative-truncate",
        variant("{kind: stop}", "{kind: truncate, bytes: -1}"),
        "fault.bytes: must be greater than or equal to 0",
    ),
    (
        "bad-responder-mode",
        variant("{kind: stop}", "{kind: responder, mode: explode}"),
        "fault.mode: does not match",
    ),
    (
        "bad-release-ref",
        variant("{kind: stop}", "{kind: deploy_release, release: latest}"),
        "fault.release: does not match",
    ),
    (
        "deploy-without-rollback",
        variant("{kind: stop}", "{kind: deploy_release}"),
        "recover.kind: a deploy_release drill recovers by 'rollback'",
    ),
    (
        "bad-schema-state",
        variant("{kind: stop}", "{kind: schema, database: melted}"),
        "fault.database: ",
    ),
    (
        "negative-flap",
        variant("{kind: stop}", "{kind: flapping, down_s: -1}"),
        "fault.down_s: must be greater than 0",
    ),
    ("unknown-suite", variant("[nightly]", "[weekly]"), "suites: unknown suite 'weekly'"),
    ("empty-suites", variant("[nightly]", "[]"), "suites: "),
    (
        "duplicate-suite",
        variant("[nightly]", "[nightly, nightly]"),
        "suites: a suite is listed twice",
    ),
    ("bad-name", variant("name: sample", "name: Bad Name!"), "name: does not match"),
    ("name-number", variant("name: sample", "name: 42"), "name: "),
    ("unknown-reason", variant("[offline]", "[offlne]"), "expect.fallback_reasons[0]: "),
    (
        "fallback-without-reasons",
        variant("  fallback_reasons: [offline]\n", ""),
        "expect.fallback_reasons: list at least one reason",
    ),
    (
        "enriched-with-reasons",
        variant("during: fallback", "during: enriched"),
        "expect.fallback_reasons: must be empty",
    ),
    ("bad-during", variant("during: fallback", "during: maybe"), "expect.during: "),
    (
        "availability-above-one",
        variant("  during: fallback\n", "  during: fallback\n  min_availability: 1.5\n"),
        "expect.min_availability: must be less than or equal to 1",
    ),
    (
        "negative-bound",
        variant("  during: fallback\n", "  during: fallback\n  latency_bound_ms: -3\n"),
        "expect.latency_bound_ms",
    ),
    ("bad-recover-kind", variant("kind: remove_fault", "kind: pray"), "recover.kind: "),
    ("bad-ask-body", VALID + "consumer: {ask_body: sometimes}\n", "consumer.ask_body: "),
    (
        "zero-consumer-timeout",
        VALID + "consumer: {timeout_ms: 0}\n",
        "consumer.timeout_ms: must be greater than or equal to 100",
    ),
    (
        # AssistSupport clamps its timeout to 100..=30000 ms: 31000 is never what it uses.
        "consumer-timeout-above-the-clamp",
        VALID + "consumer: {timeout_ms: 31000}\n",
        "consumer.timeout_ms: must be less than or equal to 30000",
    ),
    (
        # `either` with no reason can never pass: the fallback assertion needs an expected reason.
        "either-without-reasons",
        variant("  during: fallback\n  fallback_reasons: [offline]\n", "  during: either\n"),
        "expect.fallback_reasons: list at least one reason when during is 'either'",
    ),
    (
        "expected-red-without-a-reason",
        VALID + 'expected_red: ""\n',
        "expected_red: string should have at least 1 character",
    ),
    (
        "expected-red-not-text",
        VALID + "expected_red: [a]\n",
        "expected_red: input should be a valid string",
    ),
    (
        "enriched-with-machine-codes",
        variant(
            "  during: fallback\n  fallback_reasons: [offline]\n",
            "  during: enriched\n  machine_error_codes: [query_failed]\n",
        ),
        "expect.machine_error_codes: an enriched Draft has no machine_error_code",
    ),
    (
        "relative-latency-below-zero-at-the-smallest-timeout",
        variant("{kind: stop}", "{kind: latency, latency_ms: timeout - 400ms}"),
        "fault.latency_ms: timeout - 400ms is -300 ms at a 100 ms consumer timeout; "
        "must be greater than 0",
    ),
    (
        "relative-window-too-long-at-the-largest-timeout",
        variant("window_s: 2", "window_s: 30 * timeout"),
        "window_s: 30 * timeout is 900 s at a 30000 ms consumer timeout; "
        "must be less than or equal to 600",
    ),
    (
        "relative-checked-at-the-drill-s-own-timeout",
        variant("window_s: 2", "window_s: timeout - 1s") + "consumer: {timeout_ms: 800}\n",
        "window_s: timeout - 1s is -0.2 s at a 800 ms consumer timeout; must be greater than 0",
    ),
    (
        "relative-without-timeout",
        variant("window_s: 2", "window_s: 2s + 1s"),
        "window_s: '2s + 1s' is not relative to the consumer timeout",
    ),
    (
        "relative-unreadable-term",
        variant("{kind: stop}", "{kind: latency, latency_ms: timeout + soon}"),
        "fault.latency_ms: 'timeout + soon': cannot read 'soon'",
    ),
]


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_bad_drill_gets_a_one_line_error_naming_file_and_field(
    text: str, fragment: str
) -> None:
    with pytest.raises(DrillFilesInvalid) as caught:
        parse_drill_text(text, "drills/bad.yaml")
    lines = str(caught.value).splitlines()
    assert lines, "an error message is expected"
    assert all(line.startswith("drills/bad.yaml: ") for line in lines)
    assert any(fragment in line for line in lines), lines
    assert caught.value.exit_code == 2


def test_corpus_has_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = variant("window_s: 2", "window_s: -1").replace("[nightly]", "[nightly]\ncolour: red")
    with pytest.raises(DrillFilesInvalid) as caught:
        parse_drill_text(text, "x.yaml")
    assert {p.field for p in caught.value.problems} >= {"window_s", "colour"}


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * (MAX_FILE_BYTES + 10) + "\n")
    with pytest.raises(DrillFilesInvalid, match=r"huge.yaml: file is \d+ bytes"):
        load_drills([path])


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(VALID)
    path.chmod(0)
    if os.geteuid() == 0:  # root reads any mode: make the read fail as it does for other users

        def denied(self: Path) -> bytes:
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DrillFilesInvalid, match=r"secret.yaml: cannot read: Permission denied"):
        load_drills([path])


def test_directory_named_like_a_drill(tmp_path: Path) -> None:
    path = tmp_path / "dir.yaml"
    path.mkdir()
    with pytest.raises(DrillFilesInvalid, match=r"no drill files|is a directory"):
        load_drills([path])


def test_unreadable_file_as_directory(tmp_path: Path) -> None:
    with pytest.raises(DrillFilesInvalid, match="no drill files"):
        load_drills([tmp_path])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DrillFilesInvalid, match=r"missing.yaml: cannot read"):
        load_drills([tmp_path / "missing.yaml"])


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(DrillFilesInvalid, match="not UTF-8"):
        load_drills([path])


def test_duplicate_drill_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID)
    with pytest.raises(
        DrillFilesInvalid, match=r"b.yaml: name: drill name 'sample' is also used by .*a.yaml"
    ):
        load_drills([tmp_path])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_loader_never_raises_anything_but_a_definition_error(text: str) -> None:
    try:
        parse_drill_text(text, "fuzz.yaml")
    except DefinitionError as exc:
        assert str(exc).startswith("fuzz.yaml: ")


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["name", "description", "suites", "fault", "expect", "recover", "window_s", "x"]
        ),
        yaml_values,
    )
)
def test_loader_on_structured_garbage(data: dict[str, object]) -> None:
    import yaml

    try:
        parse_drill_text(yaml.safe_dump(data), "fuzz.yaml")
    except DefinitionError as exc:
        assert all(line.startswith("fuzz.yaml: ") for line in str(exc).splitlines())


runner = CliRunner()


def test_validate_command_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(variant("window_s: 2", "window_s: -5"))
    (tmp_path / "two.yaml").write_text("name: [\n")
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "one.yaml: window_s: must be greater than 0 (got -5)" in result.output
    assert "two.yaml: YAML error" in result.output
    assert "Traceback" not in result.output


def test_validate_the_shipped_catalog() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert "drill files valid" in result.output
