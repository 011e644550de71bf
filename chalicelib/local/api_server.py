"""Chalice's local server, closer to API Gateway in the two ways this service depends on.

1. `requestContext.requestTimeEpoch` is set to the request's arrival (API Gateway sets it;
   chalice local does not), so the timer-start lag is logged locally too.
2. Answers chalice local makes itself (unknown route, unknown method) carry the project's
   error body, as the deployed API's gateway responses do.
3. Path parameters are percent-decoded, as API Gateway decodes them (chalice local passes
   `a%3Ab` through, so a valid id sent encoded was refused locally only), and a `;` stays
   part of the path (chalice local's urlparse cut `/sessions/a;b` to the session `a`).
4. A burst of clients connecting at once is queued, not reset: socketserver's listen backlog
   of 5 reset connections when 30 clients connected together (bench/load.py).
5. CORS answers the request's own Origin when it is the chat page's under any loopback name
   (routing.local_allowed_origin), with `Vary: Origin`; any other origin gets no CORS headers.
   Chalice's CORSConfig holds one origin, so its headers are rewritten here, per request, for
   preflights and real answers alike. Deployed stages keep API Gateway's single origin.
6. A request whose Host is not this server's loopback name and port is refused (421) before
   it reaches the gateway (host_check.py): a rebound DNS name cannot drive the API.
"""

import json
import os
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Optional
from urllib.parse import unquote

from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    ThreadedHTTPServer,
)

from chalicelib.api.route_options import local_allowed_origin
from chalicelib.local.host_check import HostCheckedHandler
from chalicelib.settings import current

_ALLOW_ORIGIN = "access-control-allow-origin"
_CORS_PREFIX = "access-control-"


def _header(headers, name: str):
    return next((value for key, value in (headers or {}).items() if key.lower() == name), None)


def answer_origin(response: dict, request_origin) -> dict:
    """Chalice's CORS headers (one fixed origin) made to answer this request's Origin."""
    settings = current()
    if not settings.is_local or _header(response.get("headers"), _ALLOW_ORIGIN) is None:
        return response  # not the local stage, or a route without CORS: as chalice made it
    # WEB_PORT as __main__ reads it: the port the chat page is served on.
    web_port = int(os.environ.get("WEB_PORT", "8002"))
    allowed = local_allowed_origin(request_origin, settings.cors_origin, web_port)

    def keep(name: str) -> bool:  # another origin gets no CORS header at all
        return bool(allowed) or not name.lower().startswith(_CORS_PREFIX)

    vary = _header(response["headers"], "vary")
    headers = {k: v for k, v in response["headers"].items() if keep(k) and k.lower() not in (_ALLOW_ORIGIN, "vary")}
    if allowed:
        headers["Access-Control-Allow-Origin"] = allowed
    varies = [part.strip() for part in (vary or "").split(",") if part.strip()]
    headers["Vary"] = ", ".join(varies if "origin" in map(str.lower, varies) else [*varies, "Origin"])
    response["headers"] = headers
    response["multiValueHeaders"] = {k: v for k, v in (response.get("multiValueHeaders") or {}).items() if keep(k)}
    return response


class _Gateway(LocalGateway):
    arrival_ms: Optional[int] = None

    def _generate_lambda_event(self, method, path, headers, body):
        event = super()._generate_lambda_event(method, path.replace(";", "%3B"), headers, body)
        event["requestContext"]["requestTimeEpoch"] = self.arrival_ms
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        if event.get("pathParameters"):
            event["pathParameters"] = {name: unquote(value) for name, value in event["pathParameters"].items()}
        return event

    def handle_request(self, method, path, headers, body):
        response = super().handle_request(method, path, headers, body)
        return answer_origin(response, _header(headers, "origin"))


class _Handler(HostCheckedHandler, ChaliceRequestHandler):
    local_gateway: _Gateway

    def __init__(self, request, client_address, server, app_object, config):
        self.local_gateway = _Gateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def log_message(self, format, *args):  # noqa: A002 - quiet: the app logs each request
        pass

    def _json(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": code, "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _generic_handle(self):
        self.local_gateway.arrival_ms = time.time_ns() // 1_000_000
        super()._generic_handle()

    def _send_error_response(self, error):
        if isinstance(error, ForbiddenError):  # "Missing Authentication Token": no such route
            self._json(404, "not_found", "no such route")
        else:
            self._json(error.CODE, "unauthenticated" if error.CODE == 401 else "forbidden", "not allowed")

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def send_error(self, code, message=None, explain=None):
        # http.server's own errors (unknown method, bad request line) are HTML otherwise.
        status = 405 if code == 501 else code
        self.close_connection = True
        self._json(status, "method_not_allowed" if status == 405 else "invalid_request", message or "")


class _Server(ThreadedHTTPServer):
    request_queue_size = 128


def make_api_server(app_obj, config, host: str, port: int) -> LocalDevServer:
    CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
    app_obj.__class__ = CustomLocalChalice
    return LocalDevServer(app_obj, config, host, port, handler_cls=_Handler, server_cls=_Server)
