"""Start `python -m chalicelib.local` (what `make run` runs) on free ports, and stop it."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningStage:
    def __init__(self, billing_interval_s: float = 60, extra_env=None):
        self.api_port, self.dynamodb_port, self.web_port = free_port(), free_port(), free_port()
        self.billing_interval_s = billing_interval_s
        self.extra_env = extra_env or {}
        self.log_path = PROJECT / "build" / f"local-stage-{self.api_port}.log"

    @property
    def api_url(self) -> str:
        return f"http://localhost:{self.api_port}"

    @property
    def web_url(self) -> str:
        return f"http://localhost:{self.web_port}"

    @property
    def dynamodb_url(self) -> str:
        return f"http://127.0.0.1:{self.dynamodb_port}"

    BANNER_END = "Ctrl-C stops everything."

    def start(self, timeout_s: float = 60) -> "RunningStage":
        env = {k: v for k, v in os.environ.items() if k not in ("STAGE", "DYNAMODB_ENDPOINT")}
        env.update(
            PORT=str(self.api_port),
            DYNAMODB_PORT=str(self.dynamodb_port),
            WEB_PORT=str(self.web_port),
            BILLING_INTERVAL_SECONDS=str(self.billing_interval_s),
            PYTHONUNBUFFERED="1",
            **self.extra_env,
        )
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - the stage's output until stop() closes it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local"], cwd=PROJECT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"local stage exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=1) as reply:
                    # Up means serving and done starting: the banner is printed last.
                    if reply.status == 200 and self.BANNER_END in self.output():
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"local stage did not come up:\n{self.output()}")

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, sig=signal.SIGTERM, timeout_s: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    # ---- seeding the stage's own DynamoDB (fuzz and load tests) ---------------------------

    def dynamodb(self):
        """One boto3 client per stage: building one costs more than the put it is used for."""
        if getattr(self, "_dynamodb", None) is None:
            import boto3

            # moto takes any credentials; explicit ones work from session fixtures too, which
            # run before the per-test fake AWS environment is set.
            self._dynamodb = boto3.client(
                "dynamodb",
                endpoint_url=self.dynamodb_url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
        return self._dynamodb

    def add_user(self, user_id: str, balance: int) -> str:
        self.dynamodb().put_item(
            TableName="accounts",
            Item={"user_id": {"S": user_id}, "balance": {"N": str(balance)}, "debited": {"N": "0"}},
        )
        return user_id

    def add_advisor(self, advisor_id: str, rate: int) -> str:
        self.dynamodb().put_item(
            TableName="advisors",
            Item={
                "advisor_id": {"S": advisor_id},
                "rate_per_minute": {"N": str(rate)},
                "display_name": {"S": advisor_id},
            },
        )
        return advisor_id


@contextlib.contextmanager
def serving_api(app) -> Iterator[str]:
    """The local stage's API server alone (as `make run` builds it) on a free port of
    127.0.0.1, in this process: its base URL. The DynamoDB it talks to is the caller's."""
    from chalice.config import Config

    from chalicelib.local.api_server import make_api_server

    chalice_class = app.__class__  # make_api_server turns the app into chalice local's class
    api = make_api_server(app, Config.create(chalice_stage="local", app_name="session-timer"), "127.0.0.1", 0)
    thread = threading.Thread(target=api.server.serve_forever, name="api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{api.server.server_address[1]}"
    finally:
        api.server.shutdown()
        api.server.server_close()
        thread.join(timeout=5)
        app.__class__ = chalice_class
