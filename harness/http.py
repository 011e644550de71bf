"""JSON over HTTP with the standard library only: `call(method, url)` -> Reply.

Reply is what every client of the API returns, in process or over the wire (harness/client.py).
"""

import json
import urllib.error
import urllib.request
from typing import Any, Dict, NamedTuple, Optional


class Reply(NamedTuple):
    """One answer: `reply.status`, `reply.body` (parsed JSON, or the text when it is not JSON,
    or None when empty), `reply.headers`; also a tuple, so `status, body, headers = reply`."""

    status: int
    body: Any
    headers: Dict[str, str]


def parse_body(payload: Optional[bytes]) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace") if isinstance(payload, bytes) else payload


def request_headers(user: Optional[str] = None, headers: Optional[dict] = None) -> Dict[str, str]:
    """JSON, the local stage's identity header when a user is given, then the caller's own."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if user is not None:
        sent["X-User-Id"] = user
    return sent


def request_body(body: Any = None, raw: Optional[bytes] = None) -> Optional[bytes]:
    """`raw` as given (malformed input on purpose), else `body` as JSON, else nothing."""
    if raw is not None:
        return raw.encode() if isinstance(raw, str) else raw
    return json.dumps(body).encode() if body is not None else None


def call(
    method: str,
    url: str,
    user: Optional[str] = None,
    body: Any = None,
    raw: Optional[bytes] = None,
    headers: Optional[dict] = None,
    timeout: float = 10,
) -> Reply:
    request = urllib.request.Request(
        url, data=request_body(body, raw), method=method, headers=request_headers(user, headers)
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, payload, got = error.code, error.read(), dict(error.headers)
    return Reply(status, parse_body(payload), got)
