"""The OpenAPI document `GET /v1/openapi` serves: the producer's own `openapi.yaml` per release.

The real service embeds `openapi/openapi.yaml` of its tag; that document is a data file of the
producer's public contract, shipped here unchanged as `runner/data/openapi/<contract>.yaml`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from runner.contract import Release


@cache
def openapi_yaml(release: Release) -> bytes:
    """The document the release's binary serves, byte for byte."""
    name = f"openapi/{release.service_contract_version}.yaml"
    return resources.files("runner").joinpath("data", name).read_bytes()
