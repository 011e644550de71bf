"""Exactly once through the queue path, on moto's HTTP server (DynamoDB and SQS, serialised as
in the local stage): the scheduled dispatcher sends one message per shard, the local consumer
(what Lambda's event source mapping does) hands batches to the `bill_shards` worker, and
SQS's at-least-once delivery is played out in full — duplicates, two minutes' messages at
once, a worker killed after its commit, messages no worker can read. Each history is compared
with one serial billing run on a copy of the same data."""

import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError

import app as app_module
from chalicelib.api import dependencies
from chalicelib.domain.billing_message import ShardMessage
from chalicelib.domain.billing_order import ShardRead, billing_order
from chalicelib.local.driver import DriverContext, scheduled_event
from chalicelib.local.queue_consumer import QueueConsumer
from chalicelib.local.queues import DEAD_LETTER_NAME, create_billing_queues
from chalicelib.local.tables import load_template
from chalicelib.services.billing import run_billing
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.billing import billing_state, books_problems, copy_tables, restore_tables, seed_sessions
from harness.clock import MINUTE_MS, FakeClock
from harness.dynamo import counting_requests, fresh_tables
from harness.faults import failing_call

SESSIONS = 40
MAX_RECEIVES = load_template()["Resources"]["ShardQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]


class Queues:
    """The billing queue on the test's moto server, and ways to play SQS's delivery out."""

    def __init__(self, endpoint: str):
        self.client = boto3.client("sqs", endpoint_url=endpoint, region_name=current().region)
        self.url = create_billing_queues(self.client)
        self.dead_url = self.client.get_queue_url(QueueName=DEAD_LETTER_NAME)["QueueUrl"]
        self.receipts: list = []

    def consumer(self, handler=None) -> QueueConsumer:
        handler = handler or app_module.bill_shards

        def noting_receipts(event, context):
            self.receipts += [record["receiptHandle"] for record in event["Records"]]
            return handler(event, context)

        return QueueConsumer(noting_receipts, self.client, self.url, batch_size=app_module.SHARDS_PER_WORKER)

    def dispatch(self) -> dict:
        return app_module.bill_active_sessions(scheduled_event(), DriverContext(55_000))

    def send(self, *bodies: str) -> None:
        for body in bodies:
            self.client.send_message(QueueUrl=self.url, MessageBody=body)

    def visibility_timeout_ends(self) -> int:
        """Every message received and not deleted becomes visible again, as when its visibility
        timeout ends (minutes on the queue: the test moves it rather than wait for it)."""
        back = 0
        for receipt in self.receipts:
            with contextlib.suppress(ClientError):  # deleted: the worker was done with it
                self.client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=0)
                back += 1
        self.receipts = []
        return back

    def count(self, url: str) -> int:
        attributes = self.client.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self) -> list:
        messages = self.client.receive_message(QueueUrl=self.dead_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [m["Body"] for m in messages.get("Messages", [])]


@pytest.fixture
def world(moto_server, monkeypatch):
    """Seeded sessions, the queues, the app pointed at both, and a copy of the data to replay."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server.endpoint)
    store, clock = DynamoStore(current()), FakeClock()
    monkeypatch.setattr(dependencies, "clock", clock)
    balances = seed_sessions(store, clock, SESSIONS, prefix="q")
    copy = copy_tables()

    class World:
        def __init__(self):
            self.store, self.clock, self.balances = store, clock, balances
            self.start_ms = clock()
            self.queues = self._queues()

        def _queues(self) -> Queues:
            queues = Queues(moto_server.endpoint)
            monkeypatch.setenv("BILLING_QUEUE_URL", queues.url)
            dependencies.forget_store()
            return queues

        def serial_state_at(self, *instants: int) -> dict:
            """One serial run at each instant, on a fresh copy of the seeded data."""
            moto_server.reset()
            fresh_tables(moto_server.endpoint)
            restore_tables(copy)
            self.queues = self._queues()
            for at in instants:
                self.clock.now_ms = at
                run_billing(self.store, self.clock, lambda: 60_000, 10_000, workers=1)
            return billing_state()

    return World()


def test_one_minute_through_the_queue_charges_what_one_serial_run_charges(world):
    dispatched = world.queues.dispatch()
    shards = current().active_shards
    assert dispatched["sent"] == shards and dispatched["unsent"] == 0

    received = world.queues.consumer().drain()

    assert received == shards
    assert world.queues.count(world.queues.url) == 0, "every message billed is deleted"
    queued = billing_state()
    assert books_problems(world.balances, world.clock()) == []
    assert sum(ranges != [] for _, ranges in queued["ledger"].values()) >= SESSIONS // 2
    assert queued == world.serial_state_at(world.start_ms)


def test_every_message_delivered_twice_and_the_event_repeated_charges_once(world):
    world.queues.dispatch()
    world.queues.dispatch()  # EventBridge delivered the minute's event twice
    minute = world.clock() // MINUTE_MS
    # ...and SQS delivers each message of it once more, on top.
    world.queues.send(*[ShardMessage(read, minute).body() for read in billing_order(minute, current().active_shards)])

    assert world.queues.consumer().drain() == 3 * current().active_shards

    assert world.queues.count(world.queues.url) == 0
    queued = billing_state()
    assert books_problems(world.balances, world.clock()) == []
    assert queued == world.serial_state_at(world.start_ms)


def test_two_minutes_messages_billed_at_once_by_concurrent_workers_charge_each_minute_once(world):
    """The minute's workers are still running when the next minute's messages arrive: workers
    of both bill the same shards at the same time, from opposite ends."""
    world.queues.dispatch()
    world.clock.advance(ms=MINUTE_MS + 1_500)
    world.queues.dispatch()
    consumers = [world.queues.consumer() for _ in range(4)]

    with ThreadPoolExecutor(len(consumers)) as pool:
        received = sum(pool.map(lambda consumer: consumer.drain(), consumers))

    assert received == 2 * current().active_shards
    queued = billing_state()
    assert books_problems(world.balances, world.clock()) == []
    # Only the clock when a session is billed matters: both minutes' messages ran at the second
    # instant, as one serial run at that instant does.
    assert queued == world.serial_state_at(world.clock())


def test_a_worker_killed_after_its_commit_is_redelivered_and_charges_nothing_more(world):
    killed = []

    def killed_after_commit(event, context):
        app_module.bill_shards(event, context)  # the charges are committed...
        killed.append(len(event["Records"]))
        raise TimeoutError("worker killed before SQS heard back")  # ...and no message is deleted

    world.queues.dispatch()
    assert world.queues.consumer(killed_after_commit).drain() == current().active_shards
    after_commit = billing_state()
    assert sum(killed) == current().active_shards
    assert world.queues.count(world.queues.url) == current().active_shards, "nothing was deleted"

    # The visibility timeout ends: every message comes back, to a healthy worker this time.
    assert world.queues.visibility_timeout_ends() == current().active_shards
    with counting_requests() as calls:
        assert world.queues.consumer().drain() == current().active_shards

    assert billing_state() == after_commit
    assert "TransactWriteItems" not in calls.calls, "every session was read as billed: nothing to commit"
    assert world.queues.count(world.queues.url) == 0
    assert after_commit == world.serial_state_at(world.start_ms)


@pytest.mark.parametrize(
    "poison",
    [
        "not json",
        json.dumps({"v": 1, "shard": -1, "forward": True, "minute": 1}),
        json.dumps({"v": 2, "shard": 0, "forward": True, "minute": 1}),
        json.dumps({"shard": 0}),
    ],
    ids=["not-json", "negative-shard", "unknown-version", "missing-fields"],
)
def test_a_message_no_worker_can_read_lands_in_the_dead_letter_queue_and_spares_its_batch(world, poison):
    minute = world.clock() // MINUTE_MS
    good = [ShardMessage(ShardRead(shard, True), minute).body() for shard in range(3)]
    world.queues.send(poison, *good)
    consumer = world.queues.consumer()

    assert consumer.drain() == 4
    # The good messages were billed and deleted; only the poison one was reported as failed.
    assert world.queues.count(world.queues.url) == 1
    assert billing_state()["ledger"], "the batch's good shards were billed"

    for _ in range(MAX_RECEIVES):
        assert world.queues.visibility_timeout_ends() >= 1
        consumer.drain()

    assert world.queues.dead_letters() == [poison]
    assert world.queues.count(world.queues.url) == 0


def test_a_shard_whose_query_fails_fails_only_its_own_message(world, monkeypatch):
    minute = world.clock() // MINUTE_MS
    world.queues.send(*[ShardMessage(ShardRead(shard, True), minute).body() for shard in range(4)])
    failed_shards = []
    original = app_module.bill_shards

    def recording(event, context):
        response = original(event, context)
        by_id = {record["messageId"]: json.loads(record["body"])["shard"] for record in event["Records"]}
        failed_shards.extend(by_id[f["itemIdentifier"]] for f in response["batchItemFailures"])
        return response

    first_query = failing_call(monkeypatch, nth=0, matches=lambda operation, params: operation == "Query")
    with first_query:
        assert world.queues.consumer(recording).poll_once() == 4

    assert len(failed_shards) == 1
    assert world.queues.count(world.queues.url) == 1, "the three billed shards' messages are deleted"


def test_a_message_two_minutes_old_is_done_without_reading_anything(world):
    stale = ShardMessage(ShardRead(0, True), world.clock() // MINUTE_MS - 2).body()
    world.queues.send(stale)

    with counting_requests() as calls:
        assert world.queues.consumer().drain() == 1

    assert calls.calls == []
    assert world.queues.count(world.queues.url) == 0


def test_the_dispatcher_reads_no_dynamodb_and_sends_the_minutes_order_ten_at_a_time(world):
    sent = []
    lock = threading.Lock()
    client = dependencies.shard_queue().client
    original = client.send_message_batch

    def recording(**kwargs):
        with lock:
            sent.append([json.loads(entry["MessageBody"]) for entry in kwargs["Entries"]])
        return original(**kwargs)

    client.send_message_batch = recording
    with counting_requests() as calls:
        world.queues.dispatch()

    assert calls.calls == []
    shards = current().active_shards
    assert [len(batch) for batch in sent] == [10] * (shards // 10) + ([shards % 10] if shards % 10 else [])
    minute = world.clock() // MINUTE_MS
    assert [(m["shard"], m["forward"]) for batch in sent for m in batch] == list(billing_order(minute, shards))
    assert {m["minute"] for batch in sent for m in batch} == {minute}
