"""The local stage's servers answer only requests addressed to this machine by a loopback name.

DNS rebinding: a web page at http://rebind.example:8000 whose name is made to resolve to
127.0.0.1 is, to the browser, same-origin with itself, so it may send anything to the local
API (as any user: the local stage trusts X-User-Id) or to moto's DynamoDB, and read the
answers. Binding 127.0.0.1 does not stop that; the browser still sends the page's own name in
`Host`. So every server of the local stage (API, moto's DynamoDB, chat page) refuses a request
whose Host is not `localhost`, `127.0.0.1` or `[::1]` on that server's own port, before the
request reaches chalice's gateway, moto or the file server.

Everything that legitimately talks to them sends such a Host: boto3/PynamoDB and the AWS CLI
(endpoint http://127.0.0.1:8001 or http://localhost:8001), the chat page and its API calls
(http://localhost:<port>, or whichever loopback name the page was opened under), curl and the
tests (harness.local_stage's URLs).
"""

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Optional

from chalicelib.api.route_options import LOOPBACK_HOSTS

# 421 Misdirected Request rather than 403: the request is not forbidden to its sender, it was
# sent to a server that does not serve that name (RFC 9110 15.5.20), which is what a rebound
# name is; and the API itself answers 403 for ownership refusals, which this must not look like.
REFUSAL_STATUS = HTTPStatus.MISDIRECTED_REQUEST
# A refused request's body is read (up to this many bytes) before the connection is closed:
# closing with unread input makes the kernel reset the connection, and the client may lose the
# answer. A larger or chunked body is not read; the connection is closed all the same.
_DRAIN_LIMIT = 1 << 20


def allowed_host(host_header: Optional[str], port: int) -> bool:
    """Whether a request's Host header names this machine by a loopback name on `port`.

    Exactly `localhost`, `127.0.0.1` or `[::1]` with `:port` (the name case-insensitive). The
    port may be left out only for port 80, where clients leave it out; everything else (no
    Host, another name or port, userinfo, a trailing dot, a name that merely starts with one
    of these) is refused.
    """
    if not host_header:
        return False
    host = host_header.strip(" \t").lower()
    allowed = {f"{name}:{port}" for name in LOOPBACK_HOSTS}
    if port == 80:
        allowed.update(LOOPBACK_HOSTS)
    return host in allowed


def refusal_body(port: int) -> bytes:
    names = ", ".join(f"{name}:{port}" for name in LOOPBACK_HOSTS)
    message = f"this local server answers only requests with a Host header of {names}"
    return json.dumps({"error": "host_not_allowed", "message": message}).encode()


class HostCheckedHandler(BaseHTTPRequestHandler):
    """Put first in a request handler's bases: a request with a Host that `allowed_host`
    refuses is answered 421 and goes no further (no do_* method runs). The three servers'
    handlers all derive from http.server's BaseHTTPRequestHandler (chalice local's, the chat
    page's SimpleHTTPRequestHandler, and werkzeug's, which serves moto), and each request's
    headers are parsed by `parse_request` before anything handles it: one check, one place."""

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False  # malformed: already answered by the server's own error
        address = self.server.server_address  # the bound address: the real port when asked for 0
        port = int(address[1]) if isinstance(address, tuple) else 0  # not TCP: nothing allowed
        hosts = self.headers.get_all("Host") or []
        # Two Host headers are refused (RFC 9112 3.2): servers and proxies may pick different ones.
        if len(hosts) == 1 and allowed_host(hosts[0], port):
            return True
        self._refuse_host(port)
        return False

    def _refuse_host(self, port: int) -> None:
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= _DRAIN_LIMIT:
            self.rfile.read(int(length))
        body = refusal_body(port)
        self.close_connection = True
        self.send_response(REFUSAL_STATUS)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
