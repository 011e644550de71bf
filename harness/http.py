"""A tiny JSON-over-HTTP client (stdlib only) for the local stage."""
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, Optional


@dataclass
class Reply:
    status: int
    body: Any
    headers: Dict[str, str]


def call(method: str, url: str, user: Optional[str] = None, body: Any = None, raw: Optional[bytes] = None,
         headers: Optional[dict] = None, timeout: float = 10) -> Reply:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if user is not None:
        sent["X-User-Id"] = user
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, payload, got = error.code, error.read(), dict(error.headers)
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = payload.decode(errors="replace")
    return Reply(status, parsed, got)


class StageClient:
    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")

    def start(self, user, advisor_id, session_id=None, **kw) -> Reply:
        body = {"advisor_id": advisor_id}
        if session_id:
            body["session_id"] = session_id
        return call("POST", f"{self.base}/sessions", user, body=body, **kw)

    def poll(self, user, session_id, **kw) -> Reply:
        return call("GET", f"{self.base}/sessions/{session_id}", user, **kw)

    def end(self, user, session_id, **kw) -> Reply:
        return call("POST", f"{self.base}/sessions/{session_id}/end", user, **kw)
