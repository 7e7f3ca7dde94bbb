"""AssistSupport's MemoryKernel pin file and the producer manifest it names (contract §4)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from runner.contract import ERROR_CODE_STATUS
from runner.errors import DefinitionError

logger = logging.getLogger(__name__)

# AssistSupport's current pin (config/memorykernel-integration-pin.json at its head): what it ships.
SHIPPED_TAG = "v0.4.0"
# Its previous pin: the rollback target its rollback drill record names for v0.4.0.
PREVIOUS_TAG = "v0.3.2"
MANIFEST_CONTRACT_VERSION = "producer-contract-manifest.v1"

_DATA_DIR = Path(__file__).resolve().parent / "data"
# The checks of AssistSupport's pin-sync script (scripts/validate_memorykernel_pin_sync.mjs).
# `[0-9]` and not `\d`: JavaScript's `\d` is ASCII-only, Python's is not.
_RELEASE_TAG = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+")
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_U64_MAX = 2**64 - 1

_PIN_HINT = "fix the pin file or point --pin at a valid one"
_MANIFEST_HINT = "fix the manifest, or re-pin so pin and manifest change together"


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


class Pin(BaseModel):
    """`config/memorykernel-integration-pin.json`: what the consumer was built against.

    Unknown keys are ignored, as AssistSupport's serde struct ignores them; types are strict
    (a string field rejects numbers, `default_timeout_ms` rejects floats and booleans).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    memorykernel_repo: str
    release_tag: str
    commit_sha: str
    expected_service_contract_version: str
    expected_api_contract_version: str
    expected_integration_baseline: str
    # Pins older than the manifest hash lack it; AssistSupport's Rust struct has no such field.
    expected_producer_manifest_sha256: str | None = None
    default_base_url: str
    default_timeout_ms: int = Field(ge=100, le=_U64_MAX)

    _raw_sha256: str = PrivateAttr(default="")
    _source: Path | None = PrivateAttr(default=None)

    @field_validator(
        "memorykernel_repo",
        "expected_service_contract_version",
        "expected_api_contract_version",
        "expected_integration_baseline",
        "default_base_url",
    )
    @classmethod
    def _check_non_empty(cls, value: str) -> str:
        return _non_empty(value)

    @field_validator("release_tag")
    @classmethod
    def _check_release_tag(cls, value: str) -> str:
        if not _RELEASE_TAG.fullmatch(value):
            raise ValueError("must be a release tag vX.Y.Z")
        return value

    @field_validator("commit_sha")
    @classmethod
    def _check_commit_sha(cls, value: str) -> str:
        if not _COMMIT_SHA.fullmatch(value):
            raise ValueError("must be 40 lowercase hex characters")
        return value

    @field_validator("expected_producer_manifest_sha256")
    @classmethod
    def _check_manifest_sha256(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256_HEX.fullmatch(value):
            raise ValueError("must be 64 lowercase hex characters (a SHA-256)")
        return value

    @property
    def raw_sha256(self) -> str:
        """SHA-256 of the pin file's raw bytes ("" for a pin not loaded from a file)."""
        return self._raw_sha256

    @property
    def source(self) -> Path | None:
        """The file this pin was loaded from, if any."""
        return self._source

    def assistsupport_view(self) -> dict[str, Any]:
        """The pin as `get_memory_kernel_integration_pin` returns it (no hash field)."""
        return {
            "memorykernel_repo": self.memorykernel_repo,
            "release_tag": self.release_tag,
            "commit_sha": self.commit_sha,
            "expected_service_contract_version": self.expected_service_contract_version,
            "expected_api_contract_version": self.expected_api_contract_version,
            "expected_integration_baseline": self.expected_integration_baseline,
            "default_base_url": self.default_base_url,
            "default_timeout_ms": self.default_timeout_ms,
        }


class ProducerManifest(BaseModel):
    """`contracts/integration/v1/producer-contract-manifest.json` of one MemoryKernel release."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    manifest_contract_version: str
    release_tag: str
    commit_sha: str
    expected_service_contract_version: str
    expected_api_contract_version: str
    integration_baseline: str
    error_code_enum: list[str]

    _raw_sha256: str = PrivateAttr(default="")
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("manifest_contract_version")
    @classmethod
    def _check_contract_version(cls, value: str) -> str:
        if value != MANIFEST_CONTRACT_VERSION:
            raise ValueError(f"must be {MANIFEST_CONTRACT_VERSION}")
        return value

    @field_validator(
        "release_tag",
        "commit_sha",
        "expected_service_contract_version",
        "expected_api_contract_version",
        "integration_baseline",
    )
    @classmethod
    def _check_non_empty(cls, value: str) -> str:
        return _non_empty(value)

    @field_validator("error_code_enum")
    @classmethod
    def _check_error_codes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must be a non-empty array")
        if any(not code.strip() for code in value):
            raise ValueError("entries must be non-empty strings")
        duplicates = sorted({code for code in value if value.count(code) > 1})
        if duplicates:
            raise ValueError(f"contains duplicate values {duplicates}")
        return value

    @property
    def raw_sha256(self) -> str:
        """SHA-256 of the manifest's raw bytes, as AssistSupport's pin check hashes it."""
        return self._raw_sha256

    @property
    def source(self) -> Path | None:
        """The file this manifest was loaded from, if any."""
        return self._source


def _show(value: object) -> str:
    """A short rendering of an offending value for the `(got ...)` part of a message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(path: Path, field: str, message: str, got: str, hint: str) -> NoReturn:
    line = f"{path}: {field}: {message} (got {got}); {hint}"
    raise DefinitionError(line.replace("\r", " ").replace("\n", " "))


_TYPE_MESSAGES = {
    "missing": "required field is missing",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "list_type": "must be an array",
    "greater_than_equal": "must be an integer >= 100",
    "less_than_equal": "must fit in an unsigned 64-bit integer",
}


def _fail_validation(path: Path, exc: ValidationError, hint: str) -> NoReturn:
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in error["loc"]) or "(root)"
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
    else:
        message = _TYPE_MESSAGES.get(error["type"], error["msg"][:1].lower() + error["msg"][1:])
    got = "nothing" if error["type"] == "missing" else _show(error["input"])
    _fail(path, field, message, got, hint)


def _read_json_object(path: Path, what: str, hint: str) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        _fail(path, "(file)", f"cannot read {what}: {exc.strerror or exc}", "nothing", hint)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        _fail(path, "(file)", f"{what} is not UTF-8 text", f"byte {exc.start}", hint)
    except json.JSONDecodeError as exc:
        _fail(
            path,
            "(json)",
            f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            f"{len(raw)} bytes",
            hint,
        )
    if not isinstance(data, dict):
        _fail(path, "(root)", "must be a JSON object", type(data).__name__, hint)
    return raw, data


def load_pin(path: Path) -> Pin:
    """Read and validate a pin file; every problem is one DefinitionError line naming the field."""
    raw, data = _read_json_object(path, "pin file", _PIN_HINT)
    try:
        pin = Pin.model_validate(data)
    except ValidationError as exc:
        _fail_validation(path, exc, _PIN_HINT)
    pin._raw_sha256 = hashlib.sha256(raw).hexdigest()
    pin._source = path
    return pin


def load_manifest(path: Path) -> ProducerManifest:
    """Read and validate a producer manifest; errors are one DefinitionError line each."""
    raw, data = _read_json_object(path, "producer manifest", _MANIFEST_HINT)
    try:
        manifest = ProducerManifest.model_validate(data)
    except ValidationError as exc:
        _fail_validation(path, exc, _MANIFEST_HINT)
    manifest._raw_sha256 = hashlib.sha256(raw).hexdigest()
    manifest._source = path
    return manifest


def manifest_sha256(path: Path) -> str:
    """Lowercase hex SHA-256 of the file's raw bytes: no canonicalization, whitespace counts."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        _fail(
            path,
            "(file)",
            f"cannot read producer manifest: {exc.strerror or exc}",
            "nothing",
            _MANIFEST_HINT,
        )


def check_manifest_matches(
    pin: Pin, manifest_path: Path, *, require_hash: bool = False
) -> ProducerManifest:
    """Check a manifest against a pin as AssistSupport's pin-sync script does.

    The hash is compared when the pin carries one (pins older than the hash lack it; pass
    `require_hash=True` to reject those). Fields must be equal and `error_code_enum` set-equal to
    the ten codes of the contract. Any mismatch is one DefinitionError line naming file and field.
    """
    pin_name = pin.source if pin.source is not None else Path("(pin)")
    expected_hash = pin.expected_producer_manifest_sha256
    if expected_hash is None:
        if require_hash:
            _fail(
                pin_name,
                "expected_producer_manifest_sha256",
                "required field is missing",
                "nothing",
                "add the SHA-256 of the producer manifest to the pin",
            )
        logger.info("pin %s has no manifest hash; comparing fields only", pin_name)
    actual_hash = manifest_sha256(manifest_path)
    if expected_hash is not None and actual_hash != expected_hash:
        _fail(
            manifest_path,
            "sha256",
            f"does not match the pin's expected_producer_manifest_sha256 {expected_hash}",
            actual_hash,
            _MANIFEST_HINT,
        )
    manifest = load_manifest(manifest_path)
    pairs = (
        ("release_tag", manifest.release_tag, "release_tag", pin.release_tag),
        ("commit_sha", manifest.commit_sha, "commit_sha", pin.commit_sha),
        (
            "expected_service_contract_version",
            manifest.expected_service_contract_version,
            "expected_service_contract_version",
            pin.expected_service_contract_version,
        ),
        (
            "expected_api_contract_version",
            manifest.expected_api_contract_version,
            "expected_api_contract_version",
            pin.expected_api_contract_version,
        ),
        (
            "integration_baseline",
            manifest.integration_baseline,
            "expected_integration_baseline",
            pin.expected_integration_baseline,
        ),
    )
    for field, manifest_value, pin_field, pin_value in pairs:
        if manifest_value != pin_value:
            _fail(
                manifest_path,
                field,
                f"does not match the pin's {pin_field} {_show(pin_value)}",
                _show(manifest_value),
                _MANIFEST_HINT,
            )
    expected_codes = set(ERROR_CODE_STATUS)
    actual_codes = set(manifest.error_code_enum)
    if actual_codes != expected_codes:
        missing = ",".join(sorted(expected_codes - actual_codes))
        unexpected = ",".join(sorted(actual_codes - expected_codes))
        _fail(
            manifest_path,
            "error_code_enum",
            "is not set-equal to the contract's codes; "
            f"missing=[{missing}] unexpected=[{unexpected}]",
            f"{len(manifest.error_code_enum)} codes",
            "error-code drift: update the consumer mapping, tests and governance files together",
        )
    return manifest


def check_matrix_matches(pin: Pin, matrix_path: Path) -> str:
    """Check a compatibility matrix against a pin as AssistSupport's pin-sync script does.

    It must hold the lines `- MemoryKernel release tag: `<tag>`` and `- MemoryKernel commit SHA:
    `<sha>`` and a table row with the tag and SHA side by side. Returns the file's SHA-256.
    """
    hint = "the pin, matrix and manifest change together: re-pin all three"
    try:
        raw = matrix_path.read_bytes()
    except OSError as exc:
        _fail(matrix_path, "(file)", f"cannot read compatibility matrix: {exc.strerror or exc}",
              "nothing", hint)  # fmt: skip
    text = raw.decode("utf-8", "replace")
    tag, sha = pin.release_tag, pin.commit_sha
    row = re.compile(rf"\|[^\n]*\|\s*{re.escape(tag)}\s*\|\s*{re.escape(sha)}\s*\|")
    for needed, what in (
        (f"- MemoryKernel release tag: `{tag}`" in text, "baseline tag line"),
        (f"- MemoryKernel commit SHA: `{sha}`" in text, "baseline commit line"),
        (row.search(text) is not None, "approved version row with the tag/SHA pair"),
    ):
        if not needed:
            _fail(matrix_path, "matrix", f"has no {what} for the pin's {tag} @ {sha[:12]}",
                  f"{len(raw)} bytes", hint)  # fmt: skip
    return hashlib.sha256(raw).hexdigest()


_NOUNS = {"pins": "pin", "manifests": "manifest", "matrices": "compatibility matrix"}


def _embedded(kind: str, tag: str, suffix: str = ".json") -> Path:
    path = _DATA_DIR / kind / f"{tag}{suffix}"
    if not path.is_file():
        known = sorted(p.stem for p in (_DATA_DIR / kind).glob(f"*{suffix}"))
        raise DefinitionError(
            f"{_NOUNS[kind]} {tag!r}: no embedded {_NOUNS[kind]} for this release tag; "
            f"known: {', '.join(known)}"
        )
    return path


def default_pin_path(tag: str) -> Path:
    """The embedded AssistSupport pin for a release tag (runner/data/pins/<tag>.json)."""
    return _embedded("pins", tag)


def default_manifest_path(tag: str) -> Path:
    """The embedded producer manifest for a release tag (runner/data/manifests/<tag>.json)."""
    return _embedded("manifests", tag)


def default_matrix_path(tag: str) -> Path:
    """The embedded compatibility matrix approving a release tag (runner/data/matrices/<tag>.md)."""
    return _embedded("matrices", tag, ".md")
