"""Starting and stopping the pieces of the local stage, in order.

Three processes, as production has different machines: DynamoDB (moto) and the API each in a
child of their own; this one keeps what disturbs them least, the chat page's file server and
the billing functions (the schedule's dispatcher and the queue's worker), which are other
Lambda functions in production and run once a minute.
"""

import json
import os
import signal
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional, Tuple

import boto3

from chalicelib.local.children import Child
from chalicelib.local.driver import BillingDriver
from chalicelib.local.host_check import HostCheckedHandler
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
    def __init__(self, api_port: int, dynamodb_port: int, web_port: int, billing_interval_s: float, host="127.0.0.1"):
        self.host = host
        self.api_port, self.dynamodb_port, self.web_port = api_port, dynamodb_port, web_port
        self.billing_interval_s = billing_interval_s
        self._servers: List[Tuple[ThreadingHTTPServer, threading.Thread]] = []
        self._children: List[Child] = []
        self._stopping = threading.Event()
        self.billing: Optional[BillingDriver] = None
        self.consumer: Optional[QueueConsumer] = None
        self.failure: Optional[str] = None  # why a child ended the stage, if one did
        self.seed_message = ""

    def _serve(self, server, name):
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        self._servers.append((server, thread))

    def _child(self, name: str, module: str, port: int) -> Child:
        child = Child(f"{name} on {self.host}:{port}", module, ["--host", self.host, "--port", str(port)])
        self._children.append(child)  # before it starts: stop() ends it whatever happens
        child.start()
        threading.Thread(target=self._watch, args=(child,), name=f"watch-{module}", daemon=True).start()
        return child

    def _watch(self, child: Child) -> None:
        """A child that ends while the stage runs ends the stage: half a stage is no stage."""
        code = child.wait()
        if not self._stopping.is_set():
            self.failure = f"{child.name} exited unexpectedly (code {code})"
            print(f"local stage: {self.failure}; stopping", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)

    @property
    def dynamodb_endpoint(self) -> str:
        return f"http://{self.host}:{self.dynamodb_port}"

    def start(self) -> None:
        """Everything, in order; raises ChildFailed if a child cannot start (the caller stops)."""
        self._child("DynamoDB (moto)", "chalicelib.local.moto_server", self.dynamodb_port)
        settings = current()
        client = boto3.client("dynamodb", endpoint_url=self.dynamodb_endpoint, region_name=settings.region)
        create_tables(client, settings)
        # The same path as deployed: the schedule dispatches one message per shard to this
        # queue (moto, on the same server) and the consumer hands batches to the worker.
        sqs = boto3.client("sqs", endpoint_url=self.dynamodb_endpoint, region_name=settings.region)
        os.environ["BILLING_QUEUE_URL"] = create_billing_queues(sqs)
        models.bind(settings)
        self.seed_message = seed_demo()

        self._child("API", "chalicelib.local.api_process", self.api_port)

        import app as app_module  # the billing functions; after the environment is set

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
                    f"  DynamoDB     {self.dynamodb_endpoint} (moto in its own process, serialised; "
                    "the billing queue too)",
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
        """Whatever started, in reverse order: billing, the page, the API, DynamoDB last."""
        self._stopping.set()
        for part in (self.billing, self.consumer):
            if part is not None:
                part.stop()
        for server, thread in reversed(self._servers):
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        for child in reversed(self._children):  # all at once: each takes ~0.5 s to end
            child.ask_to_stop()
        for child in reversed(self._children):
            child.stop()
