"""Reading a request's body and timing, refusing bad input before any DynamoDB call."""

import json
from typing import Any, Optional

from chalicelib.domain.errors import InvalidRequest, PayloadTooLarge
from chalicelib.domain.validation import MAX_BODY_BYTES


def json_body(request) -> Any:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is limited to {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise InvalidRequest("the body is not valid JSON") from error


def request_time_ms(request) -> Optional[int]:
    """When API Gateway received the request (the local stage sets the same field)."""
    value = (request.context or {}).get("requestTimeEpoch")
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
