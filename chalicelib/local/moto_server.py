"""moto's DynamoDB server, serialised.

moto checks a condition and writes in separate steps, and a cancelled transaction restores
whole-table copies, undoing other requests' writes: under concurrent requests it is not
atomic (docs/concurrency.md). One lock around its WSGI app makes it behave like DynamoDB
for conditional writes; every local stage and concurrency test goes through this. It also
honours TransactWriteItems' ClientRequestToken as DynamoDB does (TransactionTokens), and
refuses a request whose Host is not this server's loopback name and port (host_check.py).
"""

import hashlib
import io
import json
import sys
import threading
import time
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Tuple

from werkzeug.serving import make_server

from chalicelib.local.host_check import HostCheckedHandler
from chalicelib.local.lifecycle import serve_as_child

TRANSACT_WRITE = "DynamoDB_20120810.TransactWriteItems"
# DynamoDB keeps a ClientRequestToken for 10 minutes after its first request completes.
IDEMPOTENCY_WINDOW_S = 600


class _Answer(NamedTuple):
    digest: str  # of the request's body: a token reused with other parameters is refused
    at: float
    status: str
    headers: List[Tuple[str, str]]
    payload: bytes


MISMATCH = _Answer(
    digest="",
    at=0.0,
    status="400 Bad Request",
    headers=[("Content-Type", "application/x-amz-json-1.0")],
    payload=json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            "message": "the ClientRequestToken was already used with other parameters",
        }
    ).encode(),
)


class TransactionTokens:
    """DynamoDB's idempotent TransactWriteItems, which moto ignores: a call repeated with the
    same ClientRequestToken within 10 minutes succeeds without being applied again. botocore
    puts one token on every such call and keeps it when it retries one whose answer was lost
    (a read timeout), so on DynamoDB that retry succeeds; on bare moto its condition fails
    against its own first write, and the caller believes someone else wrote. Callers hold the
    server's lock."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._done: Dict[str, _Answer] = OrderedDict()  # oldest first

    def answer(self, wsgi_app, environ, start_response) -> List[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        token = json.loads(body or b"{}").get("ClientRequestToken")
        now = self._clock()
        while self._done and now - next(iter(self._done.values())).at >= IDEMPOTENCY_WINDOW_S:
            del self._done[next(iter(self._done))]
        digest = hashlib.sha256(body).hexdigest()
        if token in self._done:
            first = self._done[token]
            replay = first if first.digest == digest else MISMATCH
            start_response(replay.status, replay.headers)
            return [replay.payload]
        answered: List[Tuple[str, List[Tuple[str, str]]]] = []

        def remember(status, headers, exc_info=None):
            answered.append((status, list(headers)))
            return start_response(status, headers, exc_info)

        payload = b"".join(wsgi_app(environ, remember))
        [(status, headers)] = answered
        if token and status.startswith("200"):
            self._done[token] = _Answer(digest, now, status, headers, payload)
        return [payload]


def serialised(wsgi_app):
    lock = threading.Lock()
    tokens = TransactionTokens()

    def app(environ, start_response):
        with lock:
            if environ.get("HTTP_X_AMZ_TARGET") == TRANSACT_WRITE:
                return tokens.answer(wsgi_app, environ, start_response)
            # Drain the body inside the lock: moto may compute it lazily.
            return [b"".join(wsgi_app(environ, start_response))]

    return app


class LocalDynamo:
    """A moto server on a background thread; `stop()` shuts it down. The local stage runs one
    in a process of its own (`python -m chalicelib.local.moto_server`); tests may run one in
    theirs."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8001):
        # moto is a development dependency: imported here, never by the Lambda's code.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        # The Host check is in the request handler, where the API and chat page servers have it
        # too: werkzeug's handler parses each request's headers before it calls the WSGI app.
        class QuietHandler(HostCheckedHandler, MotoRequestHandler):
            def log_request(self, *args, **kwargs):  # one line per DynamoDB call is noise
                pass

        self.host = host
        wsgi = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(host, port, serialised(wsgi), threaded=True, request_handler=QuietHandler)
        self.port = self._server.server_port  # when asked for port 0
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "LocalDynamo":
        self._thread.start()
        return self

    def reset(self) -> None:
        """Wipe every table and item (moto's state is per process, not per server)."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _serve(host: str, port: int):
    return LocalDynamo(host, port).start().stop


if __name__ == "__main__":
    sys.exit(serve_as_child("The local stage's DynamoDB: moto's server, serialised.", _serve))
