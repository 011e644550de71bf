"""The serialised moto server answers a repeated TransactWriteItems as DynamoDB documents it:
the same ClientRequestToken within 10 minutes succeeds without applying the call again, and
the token reused with other parameters is refused. botocore keeps the token when it retries
a call whose answer was lost, so without this a retried upgrade or charge would meet its own
first write and be taken for someone else's."""

import io
import json

import pytest
from botocore.exceptions import ClientError

from chalicelib.local.moto_server import IDEMPOTENCY_WINDOW_S, TransactionTokens
from harness.dynamo import raw_client


def put_once(client, user_id: str, balance: int, token: str):
    return client.transact_write_items(
        ClientRequestToken=token,
        TransactItems=[
            {
                "Put": {
                    "TableName": "accounts",
                    "Item": {"user_id": {"S": user_id}, "balance": {"N": str(balance)}},
                    "ConditionExpression": "attribute_not_exists(user_id)",
                }
            }
        ],
    )


def test_a_repeated_token_succeeds_without_applying_twice(moto_server):
    client = raw_client()
    put_once(client, "u-token", 100, "token-1")
    put_once(client, "u-token", 100, "token-1")  # the retry of a lost answer: success
    assert client.get_item(TableName="accounts", Key={"user_id": {"S": "u-token"}})["Item"]["balance"] == {"N": "100"}
    with pytest.raises(ClientError) as fresh:
        put_once(client, "u-token", 100, "token-2")  # a new call: its condition is checked
    assert fresh.value.response["Error"]["Code"] == "TransactionCanceledException"
    with pytest.raises(ClientError) as mismatch:
        put_once(client, "u-token", 999, "token-1")
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"


def test_a_token_is_forgotten_after_ten_minutes():
    now = [0.0]
    tokens = TransactionTokens(clock=lambda: now[0])
    calls = []

    def moto(environ, start_response):
        calls.append(environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"{}"]

    def call(token: str):
        body = json.dumps({"ClientRequestToken": token, "TransactItems": []}).encode()
        environ = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        return tokens.answer(moto, environ, lambda status, headers, exc_info=None: None)

    call("t")
    now[0] = IDEMPOTENCY_WINDOW_S - 1
    call("t")
    assert len(calls) == 1  # replayed
    now[0] = IDEMPOTENCY_WINDOW_S + 1
    call("t")
    assert len(calls) == 2  # a new request after the window
