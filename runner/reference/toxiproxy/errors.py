"""The API errors of Toxiproxy: message and status, rendered as Toxiproxy renders them."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to an API client as {"error": message, "status": status}."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def bad_request_body(detail: str) -> ApiError:
    """400: the body did not decode."""
    return ApiError(f"bad request body: {detail}", 400)


def missing_field(detail: str) -> ApiError:
    """400: name or upstream absent."""
    return ApiError(f"missing required field: {detail}", 400)


def proxy_not_found() -> ApiError:
    """404: no proxy by that name."""
    return ApiError("proxy not found", 404)


def proxy_already_exists() -> ApiError:
    """409: a proxy by that name exists."""
    return ApiError("proxy already exists", 409)


def toxic_not_found() -> ApiError:
    """404: no toxic by that name on the proxy."""
    return ApiError("toxic not found", 404)


def invalid_toxic_type() -> ApiError:
    """400: the toxic type is not one Toxiproxy knows."""
    return ApiError("invalid toxic type", 400)


def invalid_stream() -> ApiError:
    """400: the stream is neither upstream nor downstream."""
    return ApiError("stream was invalid, can be either upstream or downstream", 400)


def internal(message: str) -> ApiError:
    """500: an error Toxiproxy has no status for, such as a listen failure."""
    return ApiError(message, 500)
