"""moto's DynamoDB server, serialised.

moto checks a condition and writes in separate steps, and a cancelled transaction restores
whole-table copies, undoing other requests' writes: under concurrent requests it is not
atomic (docs/concurrency.md). One lock around its WSGI app makes it behave like DynamoDB
for conditional writes; every local stage and concurrency test goes through this.
"""

import threading

from werkzeug.serving import make_server


def serialised(wsgi_app):
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            # Drain the body inside the lock: moto may compute it lazily.
            return [b"".join(wsgi_app(environ, start_response))]

    return app


class LocalDynamo:
    """A moto server on a background thread; `stop()` shuts it down."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8001):
        # moto is a development dependency: imported here, never by the Lambda's code.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        class QuietHandler(MotoRequestHandler):
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
