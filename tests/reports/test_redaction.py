"""Secrets never reach a report: values of secret-named settings are masked in every artifact."""

from __future__ import annotations

import html
import json
from pathlib import Path

import jsonschema
import pytest

from runner.ledger import Ledger
from runner.record import Verdict
from runner.reports import REPORT_FILES, write_reports
from runner.reports.redact import MASK, Redactor, looks_secret
from runner.reports.schema import load_report_schema
from tests.reports.factory import make_drill, make_record, make_samples

SECRET = "s3cr3t-value"
MARKUP_SECRET = 'p<a>&"ss'  # escaped differently by the HTML and XML writers
SETTINGS_ONLY_SECRET = "only-in-settings-42"


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MKDRILL_TEST_TOKEN", SECRET)
    monkeypatch.setenv("MKDRILL_DB_PASSWORD", MARKUP_SECRET)
    samples = make_samples(count=60, error=f"connect failed: token={SECRET} pw={MARKUP_SECRET}")
    drill = make_drill(
        "mk-leaky",
        Verdict.FAILED,
        samples=samples,
        failed_assertion=(f"no {SECRET}", f"saw {MARKUP_SECRET} and {SETTINGS_ONLY_SECRET}"),
        consumer={"ask_body": "patched", "ASSISTSUPPORT_API_KEY": SETTINGS_ONLY_SECRET},
    )
    return make_record(
        [drill],
        settings={
            "MKDRILL_TEST_TOKEN": SECRET,
            "api_key": SETTINGS_ONLY_SECRET,
            "ask_body": "patched",
        },
    )


def _forbidden() -> list[bytes]:
    forms = {SECRET, MARKUP_SECRET, SETTINGS_ONLY_SECRET, html.escape(MARKUP_SECRET)}
    forms.add(json.dumps(MARKUP_SECRET)[1:-1])
    return [f.encode("utf-8") for f in forms]


def test_no_artifact_contains_a_secret(planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    paths = write_reports(planted, tmp_path / "run")
    assert sorted(p.name for p in paths) == sorted(REPORT_FILES)
    for path in paths:
        data = path.read_bytes()
        for secret in _forbidden():
            assert secret not in data, f"{secret!r} leaked into {path.name}"
        assert MASK.encode() in data, f"{path.name} shows no mask where the secret was"


def test_masked_report_still_validates(planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_reports(planted, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(load_report_schema()).validate(data)
    assert data["settings"]["MKDRILL_TEST_TOKEN"] == MASK
    assert data["drills"][0]["samples"][30]["error"] == f"connect failed: token={MASK} pw={MASK}"


def test_ledger_stores_no_secret(planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    record = planted.model_copy(update={"reason": f"failed with {SECRET}"})
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.record_run(record, tmp_path / "run")
    for path in tmp_path.iterdir():
        for secret in _forbidden():
            assert secret not in path.read_bytes(), f"{secret!r} leaked into {path.name}"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("GITHUB_TOKEN", True),
        ("db_password", True),
        ("Api_Key", True),
        ("MY_SECRET_X", True),
        ("MKDRILL_BACKEND", False),
        ("ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_flag_like_values_are_not_masked() -> None:
    redactor = Redactor(["1", "true", "off", "abc"])
    assert not redactor
    assert redactor.redact_text("1 true off abc") == "1 true off abc"


def test_longer_secret_masked_whole() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.redact_text("x abcdefgh y abcd") == f"x {MASK} y {MASK}"


URL_PASSWORD = "pw-9f&x!"  # `&` is escaped by the HTML and XML writers
CREDENTIAL_URL = f"http://ops:{URL_PASSWORD}@toxiproxy.internal:8474"


def test_credentials_in_a_url_reach_no_artifact(tmp_path: Path) -> None:
    samples = make_samples(count=60, error=f"connect to {CREDENTIAL_URL}/proxies failed")
    drill = make_drill(
        "mk-url", Verdict.FAILED, samples=samples, failed_assertion=("up", CREDENTIAL_URL)
    )
    record = make_record([drill], settings={"toxiproxy": CREDENTIAL_URL}).model_copy(
        update={"toxiproxy": f"external {CREDENTIAL_URL} (2.12.0)", "reason": CREDENTIAL_URL}
    )
    paths = write_reports(record, tmp_path / "run", environ={})
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.record_run(record, tmp_path / "run")
    forms = {URL_PASSWORD, html.escape(URL_PASSWORD), json.dumps(URL_PASSWORD)[1:-1], "ops:"}
    for path in [*paths, tmp_path / "ledger.sqlite3"]:
        data = path.read_bytes()
        for form in forms:
            assert form.encode() not in data, f"{form!r} leaked into {path.name}"
    report = json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))
    assert report["settings"]["toxiproxy"] == f"http://{MASK}@toxiproxy.internal:8474"
    assert "toxiproxy.internal:8474" in report["toxiproxy"]  # the host stays: only the secret goes


def test_url_credentials_masked_in_text_without_knowing_them() -> None:
    from runner.reports.redact import mask_url_credentials, url_credentials

    text = "a https://tok@h/x b postgres://u:p4ss@db:5432/x c http://plain:80/"
    assert mask_url_credentials(text) == (
        f"a https://{MASK}@h/x b postgres://{MASK}@db:5432/x c http://plain:80/"
    )
    assert url_credentials(text) == {"tok", "u:p4ss", "p4ss"}
