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
"""
import json
import time
import uuid
from http.server import BaseHTTPRequestHandler
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


class _Gateway(LocalGateway):
    arrival_ms = None

    def _generate_lambda_event(self, method, path, headers, body):
        event = super()._generate_lambda_event(method, path.replace(";", "%3B"), headers, body)
        event["requestContext"]["requestTimeEpoch"] = self.arrival_ms
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        if event.get("pathParameters"):
            event["pathParameters"] = {name: unquote(value) for name, value in event["pathParameters"].items()}
        return event


class _Handler(ChaliceRequestHandler):
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
