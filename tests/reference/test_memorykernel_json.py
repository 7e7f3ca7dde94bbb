"""Request decoding with axum's `Json` rejection texts (serde_json messages, paths, positions)."""

from __future__ import annotations

import pytest

from runner.reference.memorykernel.json_body import JsonRejection, decode_body, is_json_content_type
from runner.reference.memorykernel.requests import (
    ADD_CONSTRAINT_REQUEST,
    ADD_LINK_REQUEST,
    ASK_REQUEST,
    MIGRATE_REQUEST,
    RECALL_REQUEST,
)

SYNTAX = "Failed to parse the request body as JSON: "
DATA = "Failed to deserialize the JSON body into the target type: "
V1 = "01JMKDR1FT5EED0C0NSTRA1NT0"


@pytest.mark.parametrize(
    ("kind", "body", "status", "message"),
    [
        (MIGRATE_REQUEST, b"", 400, SYNTAX + "EOF while parsing a value at line 1 column 0"),
        (MIGRATE_REQUEST, b"nope", 400, SYNTAX + "expected ident at line 1 column 2"),
        (
            MIGRATE_REQUEST,
            b'{"dry_run":tru}',
            400,
            SYNTAX + "dry_run: expected ident at line 1 column 15",
        ),
        (MIGRATE_REQUEST, b'{"dry_run":true,}', 400, SYNTAX + "trailing comma at line 1 column 17"),
        (
            MIGRATE_REQUEST,
            b'{"dry_run" true}',
            400,
            SYNTAX + "expected `:` at line 1 column 12",  # as the real binary: no key path
        ),
        (MIGRATE_REQUEST, b"{\n 1: true}", 400, SYNTAX + "key must be a string at line 2 column 2"),
        (MIGRATE_REQUEST, b"{}", 422, DATA + "missing field `dry_run` at line 1 column 2"),
        (
            MIGRATE_REQUEST,
            b"[]",
            422,
            DATA
            + "invalid length 0, expected struct MigrateRequest with 1 element at line 1 column 2",
        ),
        (
            MIGRATE_REQUEST,
            b"null",
            422,
            DATA + "invalid type: null, expected struct MigrateRequest at line 1 column 4",
        ),
        (
            MIGRATE_REQUEST,
            b'{"dry_run":1}',
            422,
            DATA + "dry_run: invalid type: integer `1`, expected a boolean at line 1 column 12",
        ),
        (
            MIGRATE_REQUEST,
            b'{"dry_run":true,"dry_run":false}',
            422,
            DATA + "duplicate field `dry_run` at line 1 column 25",
        ),
        (
            ASK_REQUEST,
            b'{"text":"a","actor":"b","action":"c","resource":"d"}',
            422,
            DATA + "missing field `as_of` at line 1 column 52",
        ),
        (
            ASK_REQUEST,
            b'{"text":1}',
            422,
            DATA + "text: invalid type: integer `1`, expected a string at line 1 column 9",
        ),
        (
            ASK_REQUEST,
            b'{"as_of":1.5}',
            422,
            DATA + "as_of: invalid type: floating point `1.5`, "
            "expected an RFC3339-formatted `OffsetDateTime` at line 1 column 12",
        ),
        (
            ASK_REQUEST,
            b'{"as_of":"2026-13-01T00:00:00Z"}',
            422,
            DATA + "as_of: the 'month' component could not be parsed at line 1 column 31",
        ),
        (
            RECALL_REQUEST,
            b'{"text":"a","record_types":["memo"],"as_of":null}',
            422,
            DATA + "record_types[0]: unknown variant `memo`, expected one of `constraint`, "
            "`decision`, `preference`, `event`, `outcome` at line 1 column 34",
        ),
        (
            RECALL_REQUEST,
            b'{"text":"a","record_types":"decision","as_of":null}',
            422,
            DATA + 'record_types: invalid type: string "decision", '
            "expected a sequence at line 1 column 37",
        ),
        (
            ADD_LINK_REQUEST,
            b'{"from":"short","to":"x"}',
            422,
            DATA + "from: invalid length at line 1 column 15",
        ),
        (
            ADD_LINK_REQUEST,
            f'{{"from":"{V1}","to":"{V1[:-1]}U"}}'.encode(),
            422,
            DATA + "to: invalid character at line 1 column 71",
        ),
        (
            ADD_LINK_REQUEST,
            f'{{"from":"{V1}","to":"{V1}","relation":7}}'.encode(),
            400,
            SYNTAX + "relation: expected value at line 1 column 83",
        ),
        (
            ADD_CONSTRAINT_REQUEST,
            b'{"version":-1}',
            422,
            DATA + "version: invalid value: integer `-1`, expected u32 at line 1 column 13",
        ),
        (
            ADD_CONSTRAINT_REQUEST,
            b'{"version":1.0}',
            422,
            DATA + "version: invalid type: floating point `1.0`, expected u32 at line 1 column 14",
        ),
        (
            ADD_CONSTRAINT_REQUEST,
            b'{"effect":"maybe"}',
            422,
            DATA
            + "effect: unknown variant `maybe`, expected `allow` or `deny` at line 1 column 17",
        ),
        (
            ADD_CONSTRAINT_REQUEST,
            b'{"confidence":"high"}',
            422,
            DATA + 'confidence: invalid type: string "high", expected f32 at line 1 column 20',
        ),
        (
            ADD_CONSTRAINT_REQUEST,
            b'{"note":"a\x01"}',
            400,
            SYNTAX + "note: control character (\\u0000-\\u001F) found while parsing a string "
            "at line 1 column 11",
        ),
    ],
)
def test_rejections_match_serde_and_axum(
    kind: object, body: bytes, status: int, message: str
) -> None:
    with pytest.raises(JsonRejection) as caught:
        decode_body(body, kind)  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.body_text) == (status, message)
    expected_rejection = message.split(": ", 1)[0]
    assert caught.value.rejection == expected_rejection


def test_plain_options_may_be_absent_but_with_adapters_may_not() -> None:
    body = (
        b'{"actor":"a","action":"b","resource":"c","effect":"deny","version":1,"writer":"w",'
        b'"justification":"j","source_uri":"s","evidence":[],"truth_status":"asserted",'
        b'"authority":"note","supersedes":[],"contradicts":[]}'
    )
    with pytest.raises(JsonRejection, match="missing field `created_at`"):
        decode_body(body, ADD_CONSTRAINT_REQUEST)
    fuller = body[:-1] + b',"created_at":null,"effective_at":"2026-02-08T12:00:00.5+01:00"}'
    decoded = decode_body(fuller, ADD_CONSTRAINT_REQUEST)
    assert decoded["note"] is None and decoded["memory_id"] is None
    assert decoded["confidence"] is None and decoded["created_at"] is None
    assert decoded["effective_at"].rfc3339() == "2026-02-08T12:00:00.5+01:00"


def test_accepted_oddities_of_serde() -> None:
    assert decode_body(b"[false]", MIGRATE_REQUEST) == {"dry_run": False}
    assert decode_body(b'{"dry_run":true,"extra":[1,{"a":null}]} trailing', MIGRATE_REQUEST) == {
        "dry_run": True
    }
    escaped = b'{"dry\\u005frun":true}'
    assert decode_body(escaped, MIGRATE_REQUEST) == {"dry_run": True}


def test_deep_nesting_hits_the_recursion_limit() -> None:
    body = b'{"dry_run":true,"x":' + b"[" * 200 + b"]" * 200 + b"}"
    with pytest.raises(JsonRejection, match="recursion limit exceeded") as caught:
        decode_body(body, MIGRATE_REQUEST)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/problem+json", True),
        ("text/json", False),
        ("text/plain", False),
        ("json", False),
        (None, False),
    ],
)
def test_json_content_types(value: str | None, accepted: bool) -> None:
    assert is_json_content_type(value) is accepted
