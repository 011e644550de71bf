"""`chalice local --stage local`, Chalice's own local server, talks to `make run`'s DynamoDB
and never to real AWS, whatever the shell's AWS settings (chalicelib/settings.py)."""

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from harness.client import HttpClient
from harness.local_stage import PROJECT, free_port


def wait_for_health(process: subprocess.Popen, url: str, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"chalice local exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"chalice local did not come up:\n{log.read_text()}")


def test_chalice_local_uses_make_runs_dynamodb_not_aws(stage, seeded, tmp_path):
    user, sid = seeded(10_000), "cl-" + uuid.uuid4().hex[:12]
    port = free_port()
    # No endpoint, region or credentials at all: what a shell without AWS set up has.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("DYNAMODB_ENDPOINT", "STAGE")}
    env.update(
        DYNAMODB_PORT=str(stage.dynamodb_port), AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull
    )
    chalice = Path(sys.executable).with_name("chalice")
    log = tmp_path / "chalice-local.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(chalice), "local", "--stage", "local", "--port", str(port), "--no-autoreload"],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(process, url, log)
        client = HttpClient(url)
        started = client.start(user, "demo-advisor", sid)
        assert started.status == 201, (started.body, log.read_text())
        # The same session, seen through make run's own API: one DynamoDB behind both.
        assert HttpClient(stage.api_url).poll(user, sid).body["status"] == "active"
    finally:
        process.terminate()
        process.wait(timeout=10)
