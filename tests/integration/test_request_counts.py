"""The contract's cost targets, counted on the wire (botocore), not guessed."""


def test_start_poll_end_request_budget(api, demo, clock, dynamo_calls):
    api.start(demo["user"], demo["advisor"], session_id="cost-0001")
    start_calls = list(dynamo_calls.calls)
    dynamo_calls.reset()
    clock.advance(seconds=61)
    api.poll(demo["user"], "cost-0001")
    poll_calls = list(dynamo_calls.calls)
    dynamo_calls.reset()
    api.end(demo["user"], "cost-0001")
    end_calls = list(dynamo_calls.calls)

    assert start_calls == ["BatchGetItem", "TransactWriteItems"]
    assert poll_calls == ["TransactGetItems"]  # one snapshot of the session and the balance
    assert len(end_calls) <= 3 and end_calls[-1] == "TransactWriteItems"


def test_refusals_cost_one_read(api, demo, dynamo_calls):
    api.start("u-nobody", demo["advisor"])
    assert dynamo_calls.calls == ["BatchGetItem"]


def test_bad_input_never_reaches_dynamodb(api, demo, dynamo_calls):
    api.start(demo["user"], raw="{oops")
    api.start(demo["user"], raw='{"advisor_id": "a", "session_id": "no"}')
    api.poll(demo["user"], "bad id")
    assert dynamo_calls.calls == []
