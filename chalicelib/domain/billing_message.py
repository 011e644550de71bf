"""The message the dispatcher sends for one shard of one minute, and how a worker reads it.

A message names a shard, the direction to read it in (billing_order's, so that overloaded
minutes still alternate ends) and the minute it was dispatched for. It carries no session and
no amount: a worker bills what the data says is owed when it runs, so a message delivered
twice, late or together with the next minute's asks for nothing the data would not refuse.
"""

import json
from typing import Any, NamedTuple

from chalicelib.domain.billing_order import ShardRead
from chalicelib.domain.timer import MS_PER_MINUTE

VERSION = 1
# Far above any ACTIVE_SHARDS worth having (docs/scaling.md): a bigger number is not a shard.
MAX_SHARD = 99_999
# A message older than the minute before this one is covered by newer messages for the same
# shard (each minute dispatches every shard), so billing it again is work for nothing. This is
# what a retried message becomes: its visibility timeout is minutes long.
STALE_AFTER_MINUTES = 2


class BadShardMessage(ValueError):
    """Not a message this service sends: retrying it cannot help (it ends in the DLQ)."""


class ShardMessage(NamedTuple):
    read: ShardRead
    minute: int  # epoch ms // 60 000 of the dispatch

    def body(self) -> str:
        return json.dumps(
            {"v": VERSION, "shard": self.read.shard, "forward": self.read.forward, "minute": self.minute},
            separators=(",", ":"),
        )

    def is_stale(self, now_ms: int) -> bool:
        return now_ms // MS_PER_MINUTE - self.minute >= STALE_AFTER_MINUTES


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise BadShardMessage(f"{name} must be a whole number from {low} to {high}")
    return value


def parse_shard_message(body: str) -> ShardMessage:
    try:
        fields = json.loads(body)
    except (TypeError, ValueError) as error:
        raise BadShardMessage("body is not JSON") from error
    if not isinstance(fields, dict) or set(fields) != {"v", "shard", "forward", "minute"}:
        raise BadShardMessage("body must be an object with exactly v, shard, forward and minute")
    if fields["v"] != VERSION or type(fields["v"]) is not int:
        raise BadShardMessage(f"unknown message version {fields['v']!r}")
    if type(fields["forward"]) is not bool:
        raise BadShardMessage("forward must be true or false")
    shard = _whole(fields["shard"], "shard", 0, MAX_SHARD)
    minute = _whole(fields["minute"], "minute", 0, 2**53)
    return ShardMessage(ShardRead(shard, fields["forward"]), minute)
