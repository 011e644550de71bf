"""The dispatcher and the worker's handling of a batch, without AWS: a fake queue and the
in-memory store."""

from types import SimpleNamespace

import pytest

from chalicelib.domain.billing_message import ShardMessage, parse_shard_message
from chalicelib.domain.billing_order import ShardRead, billing_order
from chalicelib.domain.timer import MS_PER_MINUTE
from chalicelib.services import fanout, schedule
from chalicelib.settings import ConfigurationError
from chalicelib.store.shard_queue import ShardQueue
from harness.clock import FakeClock


class FakeSqs:
    """send_message_batch refusing the entries whose body is in `refuse` (a set it consumes
    once per refusal count)."""

    def __init__(self, refusals=None):
        self.requests = []
        self.refusals = dict(refusals or {})

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3's names
        self.requests.append([entry["MessageBody"] for entry in Entries])
        failed = []
        for entry in Entries:
            if self.refusals.get(entry["MessageBody"], 0) > 0:
                self.refusals[entry["MessageBody"]] -= 1
                failed.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"})
        return {"Failed": failed, "Successful": []}


def _dispatch(sqs, shards=23):
    clock = FakeClock()
    return fanout.dispatch_billing(ShardQueue("https://queue", "us-east-1", client=sqs), clock, shards), clock


def test_one_message_per_shard_in_the_minutes_order_ten_to_a_request():
    sqs = FakeSqs()
    report, clock = _dispatch(sqs)
    minute = clock() // MS_PER_MINUTE
    assert [len(request) for request in sqs.requests] == [10, 10, 3]
    messages = [parse_shard_message(body) for request in sqs.requests for body in request]
    assert [m.read for m in messages] == billing_order(minute, 23)
    assert {m.minute for m in messages} == {minute}
    assert report["sent"] == 23 and report["unsent"] == 0


def test_entries_a_batch_refused_are_sent_again_once():
    minute = FakeClock()() // MS_PER_MINUTE
    refused = ShardMessage(billing_order(minute, 23)[4], minute).body()
    sqs = FakeSqs({refused: 1})
    report, _ = _dispatch(sqs)
    assert sqs.requests[1] == [refused]
    assert report["unsent"] == 0


def test_what_is_refused_twice_fails_the_dispatch_after_sending_the_rest():
    minute = FakeClock()() // MS_PER_MINUTE
    refused = ShardMessage(billing_order(minute, 23)[0], minute).body()
    sqs = FakeSqs({refused: 2})
    with pytest.raises(fanout.UndeliveredShards, match="1 of 23"):
        _dispatch(sqs)
    assert sum(len(request) for request in sqs.requests) == 23 + 1


def test_inside_lambda_a_stage_without_a_queue_refuses_to_bill_in_one_function():
    store = SimpleNamespace(settings=SimpleNamespace(in_lambda=True))
    with pytest.raises(ConfigurationError, match="BILLING_QUEUE_URL"):
        schedule.scheduled_billing(store, FakeClock(), None)


class FakeRunStore:
    """Only what bill_deliveries reaches without any session: shards that hold none."""

    def __init__(self, failing_shards=()):
        self.settings = SimpleNamespace(active_shards=16)
        self.failing_shards = set(failing_shards)
        self.read = []

    def connect(self):
        pass

    def active_sessions(self, shard, forward=True):
        self.read.append((shard, forward))
        if shard in self.failing_shards:
            raise ConnectionError("query failed")
        return iter(())


def _deliver(store, *bodies, clock=None):
    clock = clock or FakeClock()
    deliveries = [fanout.Delivery(f"m{i}", body) for i, body in enumerate(bodies)]
    return fanout.bill_deliveries(store, clock, deliveries, lambda: 60_000, 10_000, workers=2)


def test_a_batch_bills_each_shard_it_names_once_in_the_direction_named():
    minute = FakeClock()() // MS_PER_MINUTE
    store = FakeRunStore()
    outcome = _deliver(
        store,
        ShardMessage(ShardRead(3, False), minute).body(),
        ShardMessage(ShardRead(3, False), minute).body(),
        ShardMessage(ShardRead(9, True), minute).body(),
    )
    assert sorted(store.read) == [(3, False), (9, True)]
    assert outcome.duplicate == 1 and outcome.failed == []
    assert outcome.batch_response() == {"batchItemFailures": []}


def test_only_the_unreadable_and_the_failed_shards_messages_come_back():
    minute = FakeClock()() // MS_PER_MINUTE
    store = FakeRunStore(failing_shards={5})
    outcome = _deliver(
        store,
        ShardMessage(ShardRead(5, True), minute).body(),
        "garbage",
        ShardMessage(ShardRead(6, True), minute).body(),
        ShardMessage(ShardRead(5, True), minute).body(),
    )
    assert sorted(f["itemIdentifier"] for f in outcome.batch_response()["batchItemFailures"]) == ["m0", "m1", "m3"]


def test_stale_messages_are_done_without_reading():
    clock = FakeClock()
    store = FakeRunStore()
    outcome = _deliver(store, ShardMessage(ShardRead(1, True), clock() // MS_PER_MINUTE - 2).body(), clock=clock)
    assert store.read == [] and outcome.stale == 1 and outcome.report is None
    assert outcome.batch_response() == {"batchItemFailures": []}
