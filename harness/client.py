"""One client of the session API, whichever way it is reached: start, poll and end built on
one `_call`, over two transports.

- InProcessClient: chalice.test.Client, the app in this process (integration tests, bench);
- HttpClient: real HTTP to a base URL (the local stage: e2e, browser, bench).

Both return a harness.http.Reply: `reply.status`, `reply.body`, `reply.headers`, which also
unpacks as `status, body, headers = client.start(...)`. The identity is the local stage's
X-User-Id header (`user`); `headers` adds or overrides request headers, `raw` sends a body
as given instead of `body` as JSON.
"""

import abc
import json
from typing import Any, Optional

from harness.http import Reply, call, parse_body, request_headers


class ApiClient(abc.ABC):
    @abc.abstractmethod
    def _call(
        self,
        method: str,
        path: str,
        user: Optional[str] = None,
        body: Any = None,
        raw: Any = None,
        headers: Optional[dict] = None,
    ) -> Reply:
        """Send one request to `path` (e.g. "/sessions") and return its reply."""

    def start(self, user, advisor_id=None, session_id=None, body=None, **kw) -> Reply:
        """POST /sessions; `body` replaces the one built from `advisor_id` and `session_id`."""
        if body is None:
            body = {"advisor_id": advisor_id}
            if session_id is not None:
                body["session_id"] = session_id
        return self._call("POST", "/sessions", user, body=body, **kw)

    def poll(self, user, session_id, **kw) -> Reply:
        return self._call("GET", f"/sessions/{session_id}", user, **kw)

    def end(self, user, session_id, **kw) -> Reply:
        return self._call("POST", f"/sessions/{session_id}/end", user, **kw)


class InProcessClient(ApiClient):
    """The app through chalice.test.Client (open it with stage_name="local" for X-User-Id)."""

    def __init__(self, client):
        self.client = client

    def _call(self, method, path, user=None, body=None, raw=None, headers=None) -> Reply:
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        send = getattr(self.client.http, method.lower())
        response = send(path, headers=request_headers(user, headers), body=payload)
        return Reply(response.status_code, parse_body(response.body), response.headers)


class HttpClient(ApiClient):
    """The API over HTTP at `base_url` (e.g. the local stage's RunningStage.api_url)."""

    def __init__(self, base_url: str, timeout: float = 10):
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method, path, user=None, body=None, raw=None, headers=None, timeout=None) -> Reply:
        return call(
            method,
            f"{self.base}{path}",
            user,
            body=body,
            raw=raw,
            headers=headers,
            timeout=self.timeout if timeout is None else timeout,
        )
