"""Records of the previous release (schema 1), written the way it wrote them: raw DynamoDB
JSON through boto3, no PynamoDB model in between, times in epoch seconds (often fractional).

`legacy_records(now_ms)` holds one record of every kind the contract and the field allow, each with
the start the contract's rule gives it (worked out by hand here, not by the code under test), or
the reason an upgrade must refuse it.
"""

import contextlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from chalicelib import observability
from chalicelib.domain.session import LEGACY_CREATED_AT, LEGACY_TIMER_START
from chalicelib.legacy import backfill
from chalicelib.settings import current
from harness.dynamo import raw_client

RATE = 150


def seconds(ms: int) -> str:
    """Epoch ms as the previous release's fractional epoch seconds."""
    return f"{ms // 1000}.{ms % 1000:03d}"


@dataclass(frozen=True)
class LegacyRecord:
    item: dict  # DynamoDB JSON, as the previous release stored it
    start_ms: Optional[int] = None  # the contract's start (None when the record is unusable)
    init: Optional[str] = None
    problem: Optional[str] = None  # why no upgrade may touch it
    billed_minutes: int = 0
    charged: int = 0
    ended_at_ms: Optional[int] = None
    lag_ms: Optional[int] = None  # the timer line's lag: start - created_at

    @property
    def session_id(self) -> str:
        return self.item["session_id"]["S"]

    @property
    def user_id(self) -> str:
        return self.item["user_id"]["S"]

    @property
    def advisor_id(self) -> str:
        return self.item["advisor_id"]["S"]

    @property
    def active(self) -> bool:
        return self.item.get("status", {}).get("S") == "active"

    @property
    def usable(self) -> bool:
        return self.problem is None


def schema1_item(session_id: str, user_id: str, advisor_id: str, status: str = "active", rate=RATE, **numbers) -> dict:
    """One schema-1 item; numbers given as str stay exactly as written (e.g. '1800000000.1234')."""
    item = {
        "session_id": {"S": session_id},
        "user_id": {"S": user_id},
        "advisor_id": {"S": advisor_id},
        "status": {"S": status},
    }
    if rate is not None:
        item["rate_per_minute"] = {"N": str(rate)}
    for name, value in numbers.items():
        if value is not None:
            item[name] = {"N": str(value)}
    return item


def legacy_records(now_ms: int, prefix: str = "old", advisor_id: str = "a-legacy") -> Dict[str, LegacyRecord]:
    """Every kind of schema-1 record, keyed by kind; each active one has its own user."""

    def ids(kind):
        return dict(session_id=f"{prefix}-{kind}", user_id=f"{prefix}-user-{kind}", advisor_id=advisor_id)

    created = now_ms - 200_250  # 200.25 s ago
    timer = now_ms - 185_500  # its timer started 14.75 s after the record was written
    whole_s = now_ms // 1000 - 190
    return {
        # The old code had started the timer: that is the start, not the creation.
        "timer_start": LegacyRecord(
            schema1_item(**ids("timer_start"), created_at=seconds(created), timer_start=seconds(timer)),
            start_ms=timer,
            init=LEGACY_TIMER_START,
            lag_ms=timer - created,
        ),
        # Written but its timer never started: the start is the creation (lag 0).
        "created_at_only": LegacyRecord(
            schema1_item(**ids("created_at_only"), created_at=seconds(created)),
            start_ms=created,
            init=LEGACY_CREATED_AT,
            lag_ms=0,
        ),
        # Billed by the old release for 2 of its 3 started minutes: billing goes on from there.
        "partly_billed": LegacyRecord(
            schema1_item(
                **ids("partly_billed"),
                created_at=seconds(created),
                timer_start=seconds(timer),
                billed_minutes=2,
                charged=2 * RATE,
            ),
            start_ms=timer,
            init=LEGACY_TIMER_START,
            billed_minutes=2,
            charged=2 * RATE,
            lag_ms=timer - created,
        ),
        # Whole seconds, and more decimals than milliseconds (rounded half up): both exact.
        "odd_seconds": LegacyRecord(
            schema1_item(**ids("odd_seconds"), created_at=str(whole_s - 100), timer_start=f"{whole_s}.1235"),
            start_ms=whole_s * 1000 + 124,
            init=LEGACY_TIMER_START,
            lag_ms=100_124,
        ),
        "ended_without_end_time": LegacyRecord(
            schema1_item(
                **ids("ended_without_end_time"),
                status="ended",
                created_at=seconds(created),
                timer_start=seconds(timer),
                billed_minutes=7,
                charged=7 * RATE,
            ),
            start_ms=timer,
            init=LEGACY_TIMER_START,
            billed_minutes=7,
            charged=7 * RATE,
            lag_ms=timer - created,
        ),
        "ended_with_end_time": LegacyRecord(
            schema1_item(
                **ids("ended_with_end_time"),
                status="ended",
                created_at=seconds(created),
                timer_start=seconds(timer),
                ended_at=seconds(timer + 95_250),
                billed_minutes=2,
                charged=2 * RATE,
            ),
            start_ms=timer,
            init=LEGACY_TIMER_START,
            billed_minutes=2,
            charged=2 * RATE,
            ended_at_ms=timer + 95_250,
            lag_ms=timer - created,
        ),
        # Missing or wrong attributes: an upgrade would have to guess, so it refuses.
        "no_start": LegacyRecord(schema1_item(**ids("no_start")), problem="neither timer_start nor created_at"),
        "no_rate": LegacyRecord(
            schema1_item(**ids("no_rate"), rate=None, created_at=seconds(created)), problem="no rate_per_minute"
        ),
        "unknown_status": LegacyRecord(
            schema1_item(**ids("unknown_status"), status="paused", created_at=seconds(created)),
            problem="unknown status 'paused'",
        ),
        "start_in_ms": LegacyRecord(
            schema1_item(**ids("start_in_ms"), created_at=created), problem="start more than an hour in the future"
        ),
        "zero_start": LegacyRecord(
            schema1_item(**ids("zero_start"), created_at=0), problem="start before 2001-09-09T01:46:40.000Z"
        ),
        "text_created_at": LegacyRecord(
            {**schema1_item(**ids("text_created_at")), "created_at": {"S": "2026-11-27T20:00:00Z"}},
            problem="created_at is not of DynamoDB type N",
        ),
    }


def usable(records: Dict[str, LegacyRecord]) -> List[LegacyRecord]:
    return [r for r in records.values() if r.usable]


def put_legacy(records, client=None, table: Optional[str] = None) -> None:
    """Write schema-1 records (LegacyRecords or raw items) as the previous release did: a
    plain PutItem each."""
    client = client or raw_client()
    table = table or current().sessions_table
    for record in records:
        client.put_item(TableName=table, Item=getattr(record, "item", record))


def raw_item(session_id: str, client=None, table: Optional[str] = None) -> dict:
    client = client or raw_client()
    table = table or current().sessions_table
    return client.get_item(TableName=table, Key={"session_id": {"S": session_id}}, ConsistentRead=True)["Item"]


def raw_items(client=None, table: Optional[str] = None) -> List[dict]:
    """Every session item as DynamoDB holds it (a schema-1 end time is a number, which the
    model refuses to read), in key order."""
    client = client or raw_client()
    pages = client.get_paginator("scan").paginate(TableName=table or current().sessions_table, ConsistentRead=True)
    return sorted((item for page in pages for item in page["Items"]), key=lambda item: item["session_id"]["S"])


@dataclass
class CapturedLog:
    buffer: io.StringIO = field(default_factory=io.StringIO)

    def lines(self, event: Optional[str] = None) -> List[dict]:
        parsed = [json.loads(line) for line in self.buffer.getvalue().splitlines() if line.startswith("{")]
        return [line for line in parsed if event is None or line.get("event") == event]

    def timer_lines(self, session_id: Optional[str] = None) -> List[dict]:
        return [line for line in self.lines("timer_started") if session_id in (None, line["session_id"])]


@contextlib.contextmanager
def captured_log():
    """The service logger's JSON lines, from every thread (its handler is bound to the stdout
    of import time, out of capsys' reach)."""
    captured = CapturedLog()
    handler = observability.logger.registered_handler
    previous = handler.setStream(captured.buffer)
    try:
        yield captured
    finally:
        if previous is not None:  # None: it already wrote there
            handler.setStream(previous)


class BackfillRun:
    """One backfill as `python -m chalicelib.legacy.backfill` runs it (state under `tmp_path`, log
    lines captured), with its exit status, terminal output and summary figures."""

    def __init__(self, tmp_path, clock, *flags):
        args = backfill.parse_args(["--state", str(tmp_path / "state.json"), "--log-file", "-", *flags])
        self.out, self.err = io.StringIO(), io.StringIO()
        with captured_log() as self.log:
            self.status = backfill.run(args, clock=clock, out=self.out, err=self.err)
        self.text = self.out.getvalue()

    def figure(self, label: str) -> int:
        return int(re.search(rf"^  {label} +(\d+)", self.text, re.M).group(1))
