"""Events as Lambda hands them to the billing functions, for tests that call the handlers."""

from typing import Iterable


def sqs_event(bodies: Iterable[str]) -> dict:
    """What Lambda's SQS event source passes the worker: one record per message, ids m1, m2..."""
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"r{index}",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies, 1)
        ]
    }
