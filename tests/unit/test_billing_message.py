"""The shard message: what the dispatcher writes a worker reads back; anything else is refused
as the one kind of failure a retry cannot cure (it ends in the dead-letter queue)."""

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.billing_message import (
    MAX_SHARD,
    STALE_AFTER_MINUTES,
    BadShardMessage,
    ShardMessage,
    parse_shard_message,
)
from chalicelib.domain.billing_order import ShardRead
from chalicelib.domain.timer import MS_PER_MINUTE


@given(shard=st.integers(0, MAX_SHARD), forward=st.booleans(), minute=st.integers(0, 2**40))
def test_what_the_dispatcher_writes_the_worker_reads_back(shard, forward, minute):
    message = ShardMessage(ShardRead(shard, forward), minute)
    assert parse_shard_message(message.body()) == message


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        "null",
        '{"v": 1, "shard": 0, "forward": true}',
        '{"v": 1, "shard": 0, "forward": true, "minute": 5, "extra": 1}',
        '{"v": 2, "shard": 0, "forward": true, "minute": 5}',
        '{"v": true, "shard": 0, "forward": true, "minute": 5}',
        '{"v": 1, "shard": -1, "forward": true, "minute": 5}',
        f'{{"v": 1, "shard": {MAX_SHARD + 1}, "forward": true, "minute": 5}}',
        '{"v": 1, "shard": 1.5, "forward": true, "minute": 5}',
        '{"v": 1, "shard": "1", "forward": true, "minute": 5}',
        '{"v": 1, "shard": true, "forward": true, "minute": 5}',
        '{"v": 1, "shard": 0, "forward": 1, "minute": 5}',
        '{"v": 1, "shard": 0, "forward": true, "minute": -5}',
        '{"v": 1, "shard": 0, "forward": true, "minute": null}',
    ],
)
def test_anything_else_is_refused_with_a_reason(body):
    with pytest.raises(BadShardMessage) as refused:
        parse_shard_message(body)
    assert str(refused.value)


@given(st.one_of(st.text(), st.recursive(st.none() | st.booleans() | st.integers() | st.text(), st.lists)))
def test_no_body_fails_with_anything_but_a_refusal(value):
    body = value if isinstance(value, str) else json.dumps(value)
    with contextlib.suppress(BadShardMessage):
        parse_shard_message(body)


def test_a_message_is_stale_from_the_second_minute_after_its_own():
    message = ShardMessage(ShardRead(3, True), 1_000)
    assert not message.is_stale(1_000 * MS_PER_MINUTE)
    assert not message.is_stale((1_000 + STALE_AFTER_MINUTES) * MS_PER_MINUTE - 1)
    assert message.is_stale((1_000 + STALE_AFTER_MINUTES) * MS_PER_MINUTE)
