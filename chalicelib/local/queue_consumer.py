"""What Lambda's SQS event source mapping does for the billing worker, for the local stage and
the tests: receive a batch, invoke the handler with an SQS event, delete the messages it did
not report as failed. A failed message (or a whole batch whose invocation raised) is left to
come back when its visibility timeout ends, as on AWS; after maxReceiveCount receives moto
moves it to the dead-letter queue."""

import threading
from typing import Callable, List, Optional

from chalicelib.local.driver import DriverContext

WORKER_FUNCTION = "session-timer-local-bill_shards"


def sqs_event(messages: List[dict], queue_arn: str, region: str) -> dict:
    """The event Lambda builds from received messages (the fields a handler may read)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class QueueConsumer:
    def __init__(
        self,
        handler: Callable[[dict, DriverContext], Optional[dict]],
        client,
        queue_url: str,
        batch_size: int,
        idle_interval_s: float = 0.2,
        timeout_ms: int = 55_000,
    ):
        self._handler, self._client, self.queue_url = handler, client, queue_url
        self._batch_size, self._idle_interval_s, self._timeout_ms = batch_size, idle_interval_s, timeout_ms
        attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self._queue_arn = attributes["QueueArn"]
        self._region = client.meta.region_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="billing-consumer", daemon=True)

    def poll_once(self) -> int:
        """One receive and, if it got messages, one invocation; returns how many it received."""
        # No long poll: the local server is serialised, and a waiting receive would hold it.
        received = self._client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self._batch_size, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            return 0
        try:
            response = self._handler(
                sqs_event(received, self._queue_arn, self._region), DriverContext(self._timeout_ms, WORKER_FUNCTION)
            )
        except Exception as error:  # Lambda's rule: a failed invocation fails its whole batch
            print(f"billing worker failed: {error!r}", flush=True)
            return len(received)
        failed = {failure["itemIdentifier"] for failure in (response or {}).get("batchItemFailures", [])}
        done = [message for message in received if message["MessageId"] not in failed]
        if done:
            self._client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(received)

    def drain(self) -> int:
        """Deliver until a receive finds nothing visible; returns the messages received."""
        total = 0
        while count := self.poll_once():
            total += count
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except Exception as error:  # the server going away at stop, or a transient error
                print(f"billing consumer: {error!r}", flush=True)
                busy = 0
            if not busy:
                self._stop.wait(self._idle_interval_s)

    def start(self) -> "QueueConsumer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
