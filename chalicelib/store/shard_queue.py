"""The billing queue, as the dispatcher sees it: send a minute's shard messages, ten a request."""

from typing import Any, List, Optional, Sequence

import boto3
from botocore.config import Config

# SendMessageBatch's own limit.
BATCH = 10
# Entries a batch refused (throttled, a service error) are sent again once; what still fails
# is reported, and that shard waits for the next minute's message.
ATTEMPTS = 2
# The dispatcher has the whole minute, but a send stuck for long is better failed and alarmed.
_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})


class ShardQueue:
    def __init__(self, queue_url: str, region: Optional[str], client: Any = None):
        self.queue_url = queue_url
        self._region = region
        self._client = client

    @property
    def client(self) -> Any:
        # Built on first use: AWS_ENDPOINT_URL_SQS (the local stage's moto) is read then.
        if self._client is None:
            self._client = boto3.client("sqs", region_name=self._region, config=_CLIENT_CONFIG)
        return self._client

    def send_all(self, bodies: Sequence[str]) -> List[str]:
        """Send every body; returns those that could not be sent."""
        unsent: List[str] = []
        for start in range(0, len(bodies), BATCH):
            unsent += self._send_batch(list(bodies[start : start + BATCH]))
        return unsent

    def _send_batch(self, bodies: List[str]) -> List[str]:
        pending = dict(enumerate(bodies))
        for _ in range(ATTEMPTS):
            if not pending:
                break
            entries = [{"Id": str(index), "MessageBody": body} for index, body in pending.items()]
            answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            pending = {int(failed["Id"]): pending[int(failed["Id"])] for failed in answer.get("Failed", [])}
        return list(pending.values())
