"""Billing for the local stage: chalice local never runs @app.schedule functions, so this
thread invokes the same handler Lambda would, with an EventBridge-shaped event and a context
that reports a real deadline."""

import threading
import time
import uuid
from datetime import UTC, datetime


class DriverContext:
    """The parts of a Lambda context the handler and Powertools read."""

    function_version = "$LATEST"
    memory_limit_in_mb = 1024

    def __init__(self, timeout_ms: int, function_name: str = "session-timer-local-bill_active_sessions"):
        self.function_name = function_name
        self.invoked_function_arn = "arn:aws:lambda:local:000000000000:function:" + function_name
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def scheduled_event() -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "local",
        "resources": ["arn:aws:events:local:000000000000:rule/bill_active_sessions"],
        "detail": {},
    }


def invoke_billing(handler, timeout_ms: int = 55_000) -> dict:
    return handler(scheduled_event(), DriverContext(timeout_ms))


class BillingDriver:
    def __init__(self, handler, interval_s: float):
        self._handler = handler
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="billing-driver", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                invoke_billing(self._handler)
            except Exception as error:  # a failed run is retried at the next interval, as on AWS
                print(f"billing run failed: {error!r}", flush=True)

    def start(self) -> "BillingDriver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
