"""Pin files and producer manifests: the real fixtures load, hashes match, bad input is one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from runner.contract import ERROR_CODE_STATUS
from runner.errors import EXIT_BAD_INPUT, DefinitionError
from runner.pins import (
    PREVIOUS_TAG,
    SHIPPED_TAG,
    Pin,
    check_manifest_matches,
    default_manifest_path,
    default_pin_path,
    load_manifest,
    load_pin,
    manifest_sha256,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PINS = FIXTURES / "assistsupport-pins"
MANIFESTS = FIXTURES / "producer-manifests"
ALL_PINS = sorted(PINS.glob("*.json"))


def _pin_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PINS / "v0.4.0.json").read_text())
    return data


def _write(tmp_path: Path, content: Any, name: str = "pin.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


def _one_line_error(exc: pytest.ExceptionInfo[DefinitionError], path: Path, field: str) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: "), message
    assert exc.value.exit_code == EXIT_BAD_INPUT
    return message


def test_all_six_fixture_pins_load() -> None:
    tags = {path.name: load_pin(path).release_tag for path in ALL_PINS}
    assert tags == {
        "v0.1.0.json": "v0.1.0",
        "v0.3.0.json": "v0.3.0",
        "v0.3.1-before-manifest-hash.json": "v0.3.1",
        "v0.3.1.json": "v0.3.1",
        "v0.3.2.json": "v0.3.2",
        "v0.4.0.json": "v0.4.0",
    }


@pytest.mark.parametrize("path", ALL_PINS, ids=lambda p: p.name)
def test_pin_keeps_raw_hash_and_source(path: Path) -> None:
    pin = load_pin(path)
    assert pin.raw_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert pin.source == path
    assert pin.default_timeout_ms == 2500
    assert pin.default_base_url == "http://127.0.0.1:4010"


@pytest.mark.parametrize("tag", ["v0.3.1", "v0.3.2", "v0.4.0"])
def test_fixture_pin_hash_matches_its_manifest(tag: str) -> None:
    pin = load_pin(PINS / f"{tag}.json")
    manifest_path = MANIFESTS / f"{tag}.json"
    assert pin.expected_producer_manifest_sha256 == manifest_sha256(manifest_path)
    manifest = check_manifest_matches(pin, manifest_path, require_hash=True)
    assert manifest.release_tag == tag
    assert manifest.raw_sha256 == pin.expected_producer_manifest_sha256
    assert set(manifest.error_code_enum) == set(ERROR_CODE_STATUS)


def test_known_hashes_from_the_contract() -> None:
    assert manifest_sha256(MANIFESTS / "v0.3.2.json").startswith("67408e0b")
    assert manifest_sha256(MANIFESTS / "v0.4.0.json").endswith("d772")


@pytest.mark.parametrize("name", ["v0.1.0.json", "v0.3.0.json", "v0.3.1-before-manifest-hash.json"])
def test_old_pins_have_no_manifest_hash(name: str) -> None:
    assert load_pin(PINS / name).expected_producer_manifest_sha256 is None


def test_pin_without_hash_is_checked_on_fields_only_unless_hash_required() -> None:
    pin = load_pin(PINS / "v0.3.1-before-manifest-hash.json")
    assert check_manifest_matches(pin, MANIFESTS / "v0.3.1.json").commit_sha == pin.commit_sha
    with pytest.raises(DefinitionError) as exc:
        check_manifest_matches(pin, MANIFESTS / "v0.3.1.json", require_hash=True)
    _one_line_error(
        exc, PINS / "v0.3.1-before-manifest-hash.json", "expected_producer_manifest_sha256"
    )


@pytest.mark.parametrize("tag", [PREVIOUS_TAG, SHIPPED_TAG])
def test_embedded_pins_are_the_real_bytes_and_match_embedded_manifests(tag: str) -> None:
    assert default_pin_path(tag).read_bytes() == (PINS / f"{tag}.json").read_bytes()
    assert default_manifest_path(tag).read_bytes() == (MANIFESTS / f"{tag}.json").read_bytes()
    pin = load_pin(default_pin_path(tag))
    check_manifest_matches(pin, default_manifest_path(tag), require_hash=True)


def test_shipped_and_previous_pins_name_their_service_versions() -> None:
    assert (
        load_pin(default_pin_path(PREVIOUS_TAG)).expected_service_contract_version == "service.v2"
    )
    assert load_pin(default_pin_path(SHIPPED_TAG)).expected_service_contract_version == "service.v3"


def test_unknown_embedded_tag_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match=r"v9\.9\.9.*known: v0\.3\.2, v0\.4\.0"):
        default_pin_path("v9.9.9")


def test_hash_is_over_raw_bytes_so_reformatting_changes_it(tmp_path: Path) -> None:
    original = (MANIFESTS / "v0.4.0.json").read_bytes()
    reformatted = tmp_path / "manifest.json"
    reformatted.write_text(json.dumps(json.loads(original)))
    assert manifest_sha256(reformatted) != manifest_sha256(MANIFESTS / "v0.4.0.json")
    with pytest.raises(DefinitionError) as exc:
        check_manifest_matches(load_pin(PINS / "v0.4.0.json"), reformatted)
    assert "(got " + manifest_sha256(reformatted) + ")" in _one_line_error(
        exc, reformatted, "sha256"
    )


def test_unknown_keys_are_ignored_like_serde(tmp_path: Path) -> None:
    data = _pin_data() | {"future_field": {"x": 1}}
    pin = load_pin(_write(tmp_path, data))
    assert pin.release_tag == "v0.4.0"
    assert "future_field" not in pin.model_dump()


def test_pin_is_frozen() -> None:
    pin = load_pin(PINS / "v0.4.0.json")
    with pytest.raises(ValueError):
        pin.release_tag = "v9.9.9"  # type: ignore[misc]


def test_assistsupport_view_has_no_hash() -> None:
    view = load_pin(PINS / "v0.4.0.json").assistsupport_view()
    assert "expected_producer_manifest_sha256" not in view
    assert len(view) == 8


REQUIRED = [
    "memorykernel_repo",
    "release_tag",
    "commit_sha",
    "expected_service_contract_version",
    "expected_api_contract_version",
    "expected_integration_baseline",
    "default_base_url",
    "default_timeout_ms",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_field_is_one_line_naming_it(tmp_path: Path, field: str) -> None:
    data = _pin_data()
    del data[field]
    path = _write(tmp_path, data)
    with pytest.raises(DefinitionError) as exc:
        load_pin(path)
    assert "required field is missing (got nothing)" in _one_line_error(exc, path, field)


BAD_VALUES: list[tuple[str, Any, str]] = [
    ("memorykernel_repo", "", "non-empty"),
    ("memorykernel_repo", "   ", "non-empty"),
    ("memorykernel_repo", 5, "must be a string"),
    ("default_base_url", None, "must be a string"),
    ("expected_service_contract_version", ["service.v3"], "must be a string"),
    ("release_tag", "0.4.0", "vX.Y.Z"),
    ("release_tag", "v0.4", "vX.Y.Z"),
    ("release_tag", "v0.4.0-rc1", "vX.Y.Z"),
    ("release_tag", "v0.4.0\n", "vX.Y.Z"),
    ("release_tag", "v\uff10.4.0", "vX.Y.Z"),
    ("commit_sha", "7E4806A34B98E6C06EE33FA9F11499A975E7B922", "40 lowercase hex"),
    ("commit_sha", "7e4806a", "40 lowercase hex"),
    ("expected_producer_manifest_sha256", "79970ec8", "64 lowercase hex"),
    ("expected_producer_manifest_sha256", "F" * 64, "64 lowercase hex"),
    ("expected_producer_manifest_sha256", 7, "must be a string"),
    ("default_timeout_ms", 2500.0, "must be an integer"),
    ("default_timeout_ms", True, "must be an integer"),
    ("default_timeout_ms", "2500", "must be an integer"),
    ("default_timeout_ms", 99, ">= 100"),
    ("default_timeout_ms", -1, ">= 100"),
    ("default_timeout_ms", 2**64, "64-bit"),
]


@pytest.mark.parametrize(("field", "value", "words"), BAD_VALUES)
def test_bad_value_is_one_line_naming_field_and_value(
    tmp_path: Path, field: str, value: Any, words: str
) -> None:
    path = _write(tmp_path, _pin_data() | {field: value})
    with pytest.raises(DefinitionError) as exc:
        load_pin(path)
    message = _one_line_error(exc, path, field)
    assert words in message
    assert f"(got {json.dumps(value, ensure_ascii=False)[:20]}" in message
    assert "fix the pin file" in message


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        ('{"release_tag": "v0.4.0",', "(json)", "not valid JSON at line 1"),
        ("", "(json)", "not valid JSON"),
        ("[1, 2]", "(root)", "must be a JSON object (got list)"),
        ('"v0.4.0"', "(root)", "must be a JSON object (got str)"),
        ("null", "(root)", "must be a JSON object (got NoneType)"),
    ],
)
def test_unparseable_pin_is_one_line(tmp_path: Path, content: str, field: str, words: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(DefinitionError) as exc:
        load_pin(path)
    assert words in _one_line_error(exc, path, field)


def test_unreadable_pin_is_one_line(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.json", tmp_path):
        with pytest.raises(DefinitionError) as exc:
            load_pin(path)
        assert "cannot read pin file" in _one_line_error(exc, path, "(file)")


def test_non_utf8_pin_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pin.json"
    path.write_bytes(b'{"release_tag": "\xff"}')
    with pytest.raises(DefinitionError) as exc:
        load_pin(path)
    assert "not UTF-8" in _one_line_error(exc, path, "(file)")


def _manifest_pair(tmp_path: Path, change: dict[str, Any]) -> tuple[Pin, Path]:
    """A manifest changed as given, and a pin whose hash matches it (so fields are what differs)."""
    data = json.loads((MANIFESTS / "v0.4.0.json").read_text()) | change
    manifest_path = _write(tmp_path, data, "manifest.json")
    pin_data = _pin_data() | {"expected_producer_manifest_sha256": manifest_sha256(manifest_path)}
    return load_pin(_write(tmp_path, pin_data)), manifest_path


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"release_tag": "v0.3.2"}, "release_tag", "does not match the pin's release_tag"),
        ({"commit_sha": "0" * 40}, "commit_sha", "does not match"),
        (
            {"expected_service_contract_version": "service.v2"},
            "expected_service_contract_version",
            "match",
        ),
        ({"expected_api_contract_version": "api.v2"}, "expected_api_contract_version", "match"),
        (
            {"integration_baseline": "integration/v2"},
            "integration_baseline",
            "expected_integration_baseline",
        ),
        (
            {"error_code_enum": [*ERROR_CODE_STATUS, "timeout"]},
            "error_code_enum",
            "unexpected=[timeout]",
        ),
        (
            {"error_code_enum": [c for c in ERROR_CODE_STATUS if c != "internal_error"]},
            "error_code_enum",
            "missing=[internal_error]",
        ),
        ({"error_code_enum": [*ERROR_CODE_STATUS, "write_failed"]}, "error_code_enum", "duplicate"),
        ({"error_code_enum": []}, "error_code_enum", "non-empty"),
        ({"error_code_enum": [*ERROR_CODE_STATUS, " "]}, "error_code_enum", "non-empty strings"),
        (
            {"manifest_contract_version": "v2"},
            "manifest_contract_version",
            "producer-contract-manifest.v1",
        ),
        ({"release_tag": ""}, "release_tag", "non-empty"),
    ],
)
def test_manifest_mismatch_is_one_line_naming_file_and_field(
    tmp_path: Path, change: dict[str, Any], field: str, words: str
) -> None:
    pin, manifest_path = _manifest_pair(tmp_path, change)
    with pytest.raises(DefinitionError) as exc:
        check_manifest_matches(pin, manifest_path)
    assert words in _one_line_error(exc, manifest_path, field)


def test_error_code_order_does_not_matter(tmp_path: Path) -> None:
    pin, manifest_path = _manifest_pair(tmp_path, {"error_code_enum": sorted(ERROR_CODE_STATUS)})
    assert check_manifest_matches(pin, manifest_path).error_code_enum == sorted(ERROR_CODE_STATUS)


def test_manifest_of_the_other_release_fails_on_hash() -> None:
    with pytest.raises(DefinitionError) as exc:
        check_manifest_matches(load_pin(PINS / "v0.4.0.json"), MANIFESTS / "v0.3.2.json")
    _one_line_error(exc, MANIFESTS / "v0.3.2.json", "sha256")


def test_load_manifest_and_unreadable_manifest(tmp_path: Path) -> None:
    assert (
        load_manifest(MANIFESTS / "v0.3.2.json").expected_service_contract_version == "service.v2"
    )
    with pytest.raises(DefinitionError) as exc:
        manifest_sha256(tmp_path / "nope.json")
    _one_line_error(exc, tmp_path / "nope.json", "(file)")
