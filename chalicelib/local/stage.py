"""Starting and stopping the pieces of the local stage, in order."""

import json
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Tuple

import boto3

from chalicelib.local.api_server import make_api_server
from chalicelib.local.driver import BillingDriver
from chalicelib.local.host_check import HostCheckedHandler
from chalicelib.local.moto_server import LocalDynamo
from chalicelib.local.queue_consumer import QueueConsumer
from chalicelib.local.queues import create_billing_queues
from chalicelib.local.seed import DEMO_ADVISOR, DEMO_USER, seed_demo
from chalicelib.local.tables import create_tables
from chalicelib.settings import current
from chalicelib.store import models

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"


class _WebHandler(HostCheckedHandler, SimpleHTTPRequestHandler):  # Host: host_check.py
    api_url = ""

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        if self.path.split("?")[0] == "/config.json":
            body = json.dumps({"api_url": self.api_url}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


class LocalStage:
    def __init__(
        self, config, api_port: int, dynamodb_port: int, web_port: int, billing_interval_s: float, host="127.0.0.1"
    ):
        self.config, self.host = config, host
        self.api_port, self.dynamodb_port, self.web_port = api_port, dynamodb_port, web_port
        self.billing_interval_s = billing_interval_s
        self._servers: List[Tuple[ThreadingHTTPServer, threading.Thread]] = []
        self.seed_message = ""

    def _serve(self, server, name):
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        self._servers.append((server, thread))

    def start(self) -> None:
        self.dynamo = LocalDynamo(self.host, self.dynamodb_port).start()
        settings = current()
        client = boto3.client("dynamodb", endpoint_url=self.dynamo.endpoint, region_name=settings.region)
        create_tables(client, settings)
        # The same path as deployed: the schedule dispatches one message per shard to this
        # queue (moto, on the same server) and the consumer hands batches to the worker.
        sqs = boto3.client("sqs", endpoint_url=self.dynamo.endpoint, region_name=settings.region)
        os.environ["BILLING_QUEUE_URL"] = create_billing_queues(sqs)
        models.bind(settings)
        self.seed_message = seed_demo()

        import app as app_module  # after the environment is set: the routes read CORS and stage
        from chalicelib.api import dependencies

        # A warm Lambda has its DynamoDB clients; without this the first page's start would
        # pay ~0.1-0.2 s for creating them between its started_at and its answer.
        dependencies.store().connect()

        self.api = make_api_server(app_module.app, self.config, self.host, self.api_port)
        self._serve(self.api.server, "api")
        handler = partial(_WebHandler, directory=str(WEB_ROOT))
        _WebHandler.api_url = f"http://localhost:{self.api_port}"
        self.web = ThreadingHTTPServer((self.host, self.web_port), handler)
        self.web.daemon_threads = True
        self._serve(self.web, "web")
        self.consumer = QueueConsumer(
            app_module.bill_shards, sqs, os.environ["BILLING_QUEUE_URL"], batch_size=app_module.SHARDS_PER_WORKER
        ).start()
        self.billing = BillingDriver(app_module.bill_active_sessions, self.billing_interval_s).start()

    def print_banner(self) -> None:
        api = f"http://localhost:{self.api_port}"
        print(
            "\n".join(
                [
                    "session timer: local stage is up",
                    f"  API          {api}",
                    f"  DynamoDB     {self.dynamo.endpoint} (moto, serialised; the billing queue too)",
                    f"  chat page    http://localhost:{self.web_port}/?user={DEMO_USER}&advisor={DEMO_ADVISOR}",
                    f"  billing      every {self.billing_interval_s:g} s: one queue message per shard, "
                    "billed by the worker",
                    f"  {self.seed_message}",
                    "try:",
                    f"  curl -s -X POST {api}/sessions -H 'X-User-Id: {DEMO_USER}' "
                    f"-H 'Content-Type: application/json' -d '{{\"advisor_id\": \"{DEMO_ADVISOR}\"}}'",
                    "Ctrl-C stops everything.",
                ]
            ),
            flush=True,
        )

    def stop(self) -> None:
        self.billing.stop()
        self.consumer.stop()
        for server, thread in reversed(self._servers):
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self.dynamo.stop()
