"""A race explorer: operations on threads, run one at a time, switched at DynamoDB's boundary.

moto serialises every request, so on its own it only ever shows one interleaving. Real
DynamoDB lets another client's write land between any two requests of ours, and a
BatchGetItem reads its items at different instants. The explorer makes both happen on
purpose, in an order chosen by the caller (hypothesis, in tests/integration/test_races.py):

- every operation runs on its own thread, but only one thread runs at a time;
- a thread stops before each of its DynamoDB requests, after each read's response and after
  each refused write (its reply tells the caller what refused it: billing learns a balance
  and a last-seen that way), and the caller picks which stopped thread goes on next and how
  far the wall clock moves;
- a BatchGetItem is split into one GetItem per key, with a stop between them (it is not a
  snapshot); TransactGetItems and TransactWriteItems stay one atomic step (they are).

The model of time: the clock moves only at stops. A write that follows a clock reading with
no request in between is not stopped before: it lands at the instant its timestamp was read.
In production the gap is the write's flight time; docs/concurrency.md says what that leaves.
"""

import contextlib
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from botocore.client import BaseClient
from botocore.exceptions import ClientError

READS = {"GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan"}
WATCHDOG_SECONDS = 20


@dataclass
class Operation:
    """One call the explorer runs: its label, what it returned or raised, and the steps
    (scheduler ticks) at which it was first let go and at which it finished."""

    label: str
    call: Callable[[], Any]
    result: Any = None
    error: Optional[BaseException] = None
    trace: str = ""
    sent_step: Optional[int] = None
    done_step: Optional[int] = None
    stopped_at: str = "not started"
    read_clock: bool = False
    thread: Optional[threading.Thread] = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.done_step is not None


class Explorer:
    """Runs operations under a schedule. `choose(options)` picks the next thread to run (by
    label), `advance()` how many ms the clock moves at that step."""

    def __init__(self, start_ms: int, choose: Callable[[List[str]], str], advance: Callable[[], int]):
        self.now_ms = start_ms
        self.step = 0
        self._choose = choose
        self._advance = advance
        self._lock = threading.Condition()
        self._running: Optional[Operation] = None
        self._local = threading.local()
        self.log: List[str] = []
        self.writes = 0

    # ---- what operations call --------------------------------------------------------

    def clock(self) -> int:
        op = getattr(self._local, "op", None)
        if op is not None:
            op.read_clock = True
        return self.now_ms

    def _stop(self, op: Operation, where: str) -> None:
        with self._lock:
            op.stopped_at = where
            self._running = None
            self._lock.notify_all()
            while self._running is not op:
                self._lock.wait()

    def _request(self, client, original, name: str, params: dict):
        op = getattr(self._local, "op", None)
        if op is None or client.meta.service_model.service_name != "dynamodb":
            return original(client, name, params)
        if name == "BatchGetItem":
            return self._batch_get_item_by_item(client, original, params)
        if name in READS or not op.read_clock:
            self._stop(op, f"before {name}")
        op.read_clock = False
        try:
            reply = original(client, name, params)
        except ClientError:
            if name not in READS:
                # A refused write answers with what refused it (a cancelled transaction's
                # reasons and items, ALL_OLD): its caller decides from that as from a read, so
                # another writer may land before it acts on what it learned.
                self._stop(op, f"after refused {name}")
            raise
        if name not in READS:
            self.writes += 1
        if name in READS:
            self._stop(op, f"after {name}")
        return reply

    def _batch_get_item_by_item(self, client, original, params: dict) -> dict:
        """A BatchGetItem as DynamoDB may serve it: each item read at its own instant."""
        responses: Dict[str, list] = {}
        for table, wanted in params["RequestItems"].items():
            responses[table] = []
            for key in wanted["Keys"]:
                one = {"TableName": table, "Key": key, "ConsistentRead": wanted.get("ConsistentRead", False)}
                item = self._request(client, original, "GetItem", one).get("Item")
                if item is not None:
                    responses[table].append(item)
        return {"Responses": responses, "UnprocessedKeys": {}}

    @contextlib.contextmanager
    def at_client_boundary(self):
        original = BaseClient._make_api_call

        def patched(client, name, params):
            return self._request(client, original, name, params)

        BaseClient._make_api_call = patched
        try:
            yield self
        finally:
            BaseClient._make_api_call = original

    # ---- the scheduler ---------------------------------------------------------------

    def _body(self, op: Operation) -> None:
        self._local.op = op
        self._stop(op, "start")
        try:
            op.result = op.call()
        except BaseException as error:  # reported to the caller, who decides what is allowed
            op.error = error
            op.trace = traceback.format_exc()
        finally:
            with self._lock:
                op.done_step = self.step
                op.stopped_at = "done"
                self._running = None
                self._lock.notify_all()

    def run(self, operations: List[Operation], after_step: Callable[[], None] = lambda: None) -> None:
        """Run every operation to its end; `after_step` checks invariants whenever no
        operation is running and something was written since it last ran."""
        by_label = {op.label: op for op in operations}
        assert len(by_label) == len(operations), "labels must be unique"
        with self._lock:
            for op in operations:
                op.thread = threading.Thread(target=self._body, args=(op,), name=op.label, daemon=True)
                op.thread.start()
            self._wait_until_still(operations)
        checked = None
        while True:
            if checked != self.writes:
                checked = self.writes
                after_step()
            waiting = [op.label for op in operations if not op.done]
            if not waiting:
                return
            chosen = by_label[self._choose(waiting)]
            moved = self._advance()
            with self._lock:
                self.step += 1
                self.now_ms += moved
                self.log.append(f"{self.step:3d} +{moved}ms {chosen.label}: {chosen.stopped_at}")
                if chosen.sent_step is None:
                    chosen.sent_step = self.step
                self._running = chosen
                self._lock.notify_all()
                self._wait_until_still(operations)

    def _wait_until_still(self, operations: List[Operation]) -> None:
        """Called with the lock held: until no thread runs and each has stopped or ended."""

        def still() -> bool:
            return self._running is None and all(op.done or op.stopped_at != "not started" for op in operations)

        if not self._lock.wait_for(still, timeout=WATCHDOG_SECONDS):
            raise AssertionError("an operation blocked outside the explorer's stops:\n" + "\n".join(self.log[-10:]))
