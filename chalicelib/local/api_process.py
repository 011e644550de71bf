"""The local stage's API in a process of its own (`python -m chalicelib.local.api_process`),
started by `make run` once DynamoDB, the tables and the queue exist. It imports the app and
builds its DynamoDB clients before it says it is ready, as a warm Lambda has them: the first
page's start would otherwise pay ~0.1-0.2 s between its started_at and its answer."""

import sys
import threading

from chalicelib.local.children import PROJECT
from chalicelib.local.lifecycle import serve_as_child


def _serve(host: str, port: int):
    sys.path.insert(0, str(PROJECT))
    from chalicelib.local.environment import local_environment

    config = local_environment()  # what make run set, plus the config file's defaults

    import app as app_module  # after the environment is set: the routes read CORS and stage
    from chalicelib.api import dependencies
    from chalicelib.local.api_server import make_api_server

    dependencies.store().connect()
    api = make_api_server(app_module.app, config, host, port)
    thread = threading.Thread(target=api.server.serve_forever, name="api", daemon=True)
    thread.start()

    def stop() -> None:
        api.server.shutdown()
        api.server.server_close()
        thread.join(timeout=5)

    return stop


if __name__ == "__main__":
    sys.exit(serve_as_child("The local stage's API (chalice local's server, closer to API Gateway).", _serve))
