"""URL paths as the client sees them: under the API's own base path.

Deployed, the API is reached under a prefix it does not route on: the stage of the
execute-api URL (`https://xyz.execute-api.../api/sessions`) or a custom domain's base path
mapping (`https://chat.example.com/v1/sessions`, or no base path at all). In an API Gateway
REST (v1) event, `requestContext.path` is the path as the client sent it, prefix included,
and `requestContext.resourcePath` is the route's template (`/sessions`). The public prefix is
what `path` has before the part that matches the resource.

The local stage serves at the root: chalice's local gateway (and our local/api_server.py,
built on it) sets `path` to the request's own path, so the prefix there is empty.

Anything unexpected gives the empty prefix, i.e. the bare path: a context that is not a
mapping, a `path` or `resourcePath` missing or not a string, a `path` that does not end with
the resource, or a prefix that is not plain path segments (`//host`, `/..`, a backslash, an
encoded character). A Location made here is therefore always a path starting with exactly
one `/`: never a 500, never a URL that leads off the API.
"""

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

SESSIONS = "/sessions"

# One segment of a prefix: the characters API Gateway allows in a stage name or a base path
# mapping (letters, digits and $-_.+!*'()); a multi-level base path is several segments.
_SEGMENT = re.compile(r"[A-Za-z0-9$_.+!*'()-]+")
_DOT_SEGMENTS = (".", "..")


def _is_plain_prefix(prefix: str) -> bool:
    """Empty, "/seg" or "/seg/seg": no empty segment (so no `//`), no dot segment."""
    if prefix == "":
        return True
    first, *segments = prefix.split("/")
    return (
        first == ""
        and bool(segments)
        and all(_SEGMENT.fullmatch(s) is not None and s not in _DOT_SEGMENTS for s in segments)
    )


def public_prefix(context: Any) -> str:
    """The part of the client's path before the matched resource: "/api", "/v1" or ""."""
    if not isinstance(context, Mapping):
        return ""
    path, resource = context.get("path"), context.get("resourcePath")
    if not isinstance(path, str) or not isinstance(resource, str) or not resource.startswith("/"):
        return ""
    resource_tail = resource.rstrip("/")  # "" for the root resource "/"
    if path.endswith("/"):  # API Gateway routes `/api/sessions/` to the resource `/sessions`
        path = path[:-1]
    if not path.endswith(resource_tail):
        return ""
    prefix = path[: len(path) - len(resource_tail)]
    return prefix if _is_plain_prefix(prefix) else ""


def session_location(context: Any, session_id: str) -> str:
    """The session's URL path under the API's own base path, its id percent-encoded."""
    return f"{public_prefix(context)}{SESSIONS}/{quote(session_id, safe='')}"
