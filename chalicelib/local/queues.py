"""The billing queue and its dead-letter queue on the local moto server, created from the
template's ShardQueue and ShardDeadLetterQueue so that retries and redrive behave as deployed."""

import json
from typing import Optional

from chalicelib.local.tables import load_template

QUEUE_NAME = "session-timer-billing"
DEAD_LETTER_NAME = QUEUE_NAME + "-dead-letters"
# Attributes create_queue takes as the template states them. ReceiveMessageWaitTimeSeconds is
# left out on purpose: the local server is serialised, and a long poll would hold its lock.
_COPIED = ("VisibilityTimeout", "MessageRetentionPeriod")


def _attributes(properties: dict) -> dict:
    return {key: str(properties[key]) for key in _COPIED if key in properties}


def create_billing_queues(client, template: Optional[dict] = None, name: str = QUEUE_NAME) -> str:
    """Both queues (kept if they exist); returns the billing queue's URL."""
    resources = (template or load_template())["Resources"]
    queue, dead_letters = resources["ShardQueue"]["Properties"], resources["ShardDeadLetterQueue"]["Properties"]
    dead_url = client.create_queue(QueueName=name + "-dead-letters", Attributes=_attributes(dead_letters))["QueueUrl"]
    dead_arn = client.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": queue["RedrivePolicy"]["maxReceiveCount"]}
    attributes = {**_attributes(queue), "RedrivePolicy": json.dumps(redrive)}
    return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
