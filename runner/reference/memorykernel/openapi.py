"""The OpenAPI document `GET /v1/openapi` serves per release: a compact rendition of the real."""

from __future__ import annotations

from runner.contract import ERROR_CODE_STATUS, Release

_TEMPLATE = """\
openapi: 3.1.0
info:
  title: Memory Kernel Local Service
  version: {service_contract_version}
servers:
  - url: http://127.0.0.1:4010
paths:
  /v1/health:
    get:
      summary: Health check
      responses:
        "200": {{$ref: "#/components/responses/Envelope"}}
  /v1/openapi:
    get:
      summary: OpenAPI artifact
      responses:
        "200":
          description: OpenAPI YAML
          content:
            application/yaml:
              schema: {{type: string}}
  /v1/db/schema-version:
    post:
      summary: Inspect schema status
      responses:
        "200": {{$ref: "#/components/responses/Envelope"}}
        "503": {{$ref: "#/components/responses/Error"}}
        "500": {{$ref: "#/components/responses/Error"}}
  /v1/db/migrate:
    post:
      summary: Migrate database or dry-run
      requestBody: {{$ref: "#/components/requestBodies/MigrateRequest"}}
      responses: &write_responses
        "200": {{$ref: "#/components/responses/Envelope"}}
        "400": {{$ref: "#/components/responses/Error"}}
        "409": {{$ref: "#/components/responses/Error"}}
        "503": {{$ref: "#/components/responses/Error"}}
        "500": {{$ref: "#/components/responses/Error"}}
  /v1/memory/add/constraint:
    post:
      summary: Add constraint memory
      requestBody: {{$ref: "#/components/requestBodies/AddConstraintRequest"}}
      responses: *write_responses
  /v1/memory/add/summary:
    post:
      summary: Add summary memory (decision/preference/event/outcome)
      requestBody: {{$ref: "#/components/requestBodies/AddSummaryRequest"}}
      responses: *write_responses
  /v1/memory/link:
    post:
      summary: Add memory link
      requestBody: {{$ref: "#/components/requestBodies/AddLinkRequest"}}
      responses: *write_responses
  /v1/query/ask:
    post:
      summary: Query and persist context package
      requestBody: {{$ref: "#/components/requestBodies/AskRequest"}}
      responses: *write_responses
  /v1/query/recall:
    post:
      summary: Recall query and persist mixed-record context package
      requestBody: {{$ref: "#/components/requestBodies/RecallRequest"}}
      responses: *write_responses
  /v1/context/{{context_package_id}}:
    get:
      summary: Fetch persisted context package
      parameters:
        - in: path
          name: context_package_id
          required: true
          schema: {{type: string, minLength: 1}}
      responses:
        "200": {{$ref: "#/components/responses/Envelope"}}
        "404": {{$ref: "#/components/responses/Error"}}
        "503": {{$ref: "#/components/responses/Error"}}
        "500": {{$ref: "#/components/responses/Error"}}
components:
  responses:
    Envelope:
      description: Success envelope
      content:
        application/json:
          schema: {{$ref: "#/components/schemas/ServiceEnvelope"}}
    Error:
      description: Typed error envelope
      content:
        application/json:
          schema: {{$ref: "#/components/schemas/ServiceErrorEnvelope"}}
  requestBodies:
    MigrateRequest:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [dry_run]
            properties:
              dry_run: {{type: boolean}}
    AddConstraintRequest:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [actor, action, resource, effect, version, writer, justification, source_uri,
                       evidence, truth_status, authority, created_at, effective_at, supersedes,
                       contradicts]
            properties:
              actor: {{type: string, minLength: 1}}
              action: {{type: string, minLength: 1}}
              resource: {{type: string, minLength: 1}}
              effect: {{type: string, enum: [allow, deny]}}
              note: {{type: [string, "null"]}}
              memory_id: {{type: [string, "null"]}}
              version: {{type: integer, minimum: 1}}
              writer: {{type: string, minLength: 1}}
              justification: {{type: string, minLength: 1}}
              source_uri: {{type: string, minLength: 1}}
              source_hash: {{type: [string, "null"]}}
              evidence: {{type: array, items: {{type: string}}}}
              confidence: {{type: [number, "null"]}}
              truth_status:
                type: string
                enum: [asserted, observed, inferred, speculative, retracted]
              authority: {{type: string, enum: [authoritative, derived, note]}}
              created_at: {{type: [string, "null"]}}
              effective_at: {{type: [string, "null"]}}
              supersedes: {{type: array, items: {{type: string}}}}
              contradicts: {{type: array, items: {{type: string}}}}
    AddSummaryRequest:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [record_type, summary, version, writer, justification, source_uri, evidence,
                       truth_status, authority, created_at, effective_at, supersedes, contradicts]
            properties:
              record_type: {{type: string, enum: [decision, preference, event, outcome]}}
              summary: {{type: string, minLength: 1}}
    AddLinkRequest:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [from, to, relation, writer, justification]
            properties:
              from: {{type: string}}
              to: {{type: string}}
              relation: {{type: string, enum: [supersedes, contradicts]}}
              writer: {{type: string, minLength: 1}}
              justification: {{type: string, minLength: 1}}
    AskRequest:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [text, actor, action, resource, as_of]
            properties:
              text: {{type: string}}
              actor: {{type: string}}
              action: {{type: string}}
              resource: {{type: string}}
              as_of: {{type: [string, "null"], format: date-time}}
    RecallRequest:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [text, record_types, as_of]
            properties:
              text: {{type: string}}
              record_types:
                type: array
                items: {{type: string, enum: [constraint, decision, preference, event, outcome]}}
              as_of: {{type: [string, "null"], format: date-time}}
  schemas:
    ServiceEnvelope:
      type: object
      required: [service_contract_version, api_contract_version, data]
      properties:
        service_contract_version: {{type: string, const: {service_contract_version}}}
        api_contract_version: {{type: string, const: {api_contract_version}}}
        data: {{}}
    ServiceErrorEnvelope:
      type: object
      additionalProperties: false
      required: [{error_required}]
      properties:
        service_contract_version: {{type: string, const: {service_contract_version}}}
        error:
          type: object
          additionalProperties: false
          required: [code, message]
          properties:
            code:
              type: string
              enum: [{error_codes}]
            message: {{type: string}}
            details: {{type: [object, "null"], additionalProperties: true}}{legacy_error}
"""

_LEGACY_ERROR_PROPERTY = """
        legacy_error:
          type: string
          description: Same text as error.message; kept through service.v2 only."""


def openapi_yaml(release: Release) -> str:
    """The spec for `release`; service.v2 documents `legacy_error`, service.v3 forbids it."""
    keeps_legacy = release.keeps_legacy_error
    required = ["service_contract_version", "error"] + (["legacy_error"] if keeps_legacy else [])
    return _TEMPLATE.format(
        service_contract_version=release.service_contract_version,
        api_contract_version=release.api_contract_version,
        error_required=", ".join(required),
        error_codes=", ".join(ERROR_CODE_STATUS),
        legacy_error=_LEGACY_ERROR_PROPERTY if keeps_legacy else "",
    )
