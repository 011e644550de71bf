"""Each DynamoDB call of start, poll and end failing in turn, including the advisor's extra
account read: throttled, failing, timing out before DynamoDB saw it. Every time: 503 with
Retry-After, not a byte written; then the same request succeeds with exactly the calls its
cost target allows, and the books still reconcile.

tests/integration/test_faults.py fails calls by operation name; this walks each call's
position, so a call added to an operation is failed too (and its count is caught)."""

from dataclasses import dataclass
from typing import Callable, Tuple

import pytest

from harness.billing import books_problems, copy_tables
from harness.dynamo import counting_requests
from harness.faults import INTERNAL, THROTTLED, TIMEOUT, failing_call

CODES = (THROTTLED, INTERNAL, TIMEOUT)
SID = "every-call-0001"


@dataclass(frozen=True)
class Scenario:
    name: str
    started_before: bool
    act: Callable[[object, dict], Tuple[int, dict, dict]]
    calls: Tuple[str, ...]
    ok: int

    def __str__(self) -> str:
        return self.name


SCENARIOS = [
    Scenario(
        "start",
        False,
        lambda api, d: api.start(d["user"], d["advisor"], session_id=SID),
        ("BatchGetItem", "TransactWriteItems"),
        201,
    ),
    Scenario("poll by the user", True, lambda api, d: api.poll(d["user"], SID), ("TransactGetItems",), 200),
    Scenario(
        "poll by the advisor",
        True,
        lambda api, d: api.poll(d["advisor"], SID),
        ("TransactGetItems", "TransactGetItems"),
        200,
    ),
    Scenario(
        "end by the user", True, lambda api, d: api.end(d["user"], SID), ("TransactGetItems", "TransactWriteItems"), 200
    ),
    Scenario(
        "end by the advisor",
        True,
        lambda api, d: api.end(d["advisor"], SID),
        ("TransactGetItems", "TransactGetItems", "TransactWriteItems"),
        200,
    ),
]


def canonical(tables: dict) -> dict:
    """The tables' items, independent of scan order."""
    return {name: sorted(items, key=repr) for name, items in tables.items()}


@pytest.mark.parametrize(
    "scenario, position",
    [(s, i) for s in SCENARIOS for i in range(len(s.calls))],
    ids=lambda value: str(value),
)
def test_each_call_failing_writes_nothing_and_the_retry_succeeds(api, demo, clock, monkeypatch, scenario, position):
    if scenario.started_before:
        assert api.start(demo["user"], demo["advisor"], session_id=SID)[0] == 201
        clock.advance(seconds=90)
    before = canonical(copy_tables())

    for code in CODES:
        with failing_call(monkeypatch, position, code) as seen:
            status, body, headers = scenario.act(api, demo)
        assert tuple(seen) == scenario.calls[: position + 1], code  # failed where meant, then stopped
        assert (status, body["error"]) == (503, "service_unavailable"), code
        assert int(headers["Retry-After"]) >= 1
        assert canonical(copy_tables()) == before, f"{code} at call {position} left a write behind"

    with counting_requests() as dynamo_calls:
        status, view, _ = scenario.act(api, demo)
    assert status == scenario.ok
    assert tuple(dynamo_calls.calls) == scenario.calls
    if scenario.name.startswith("end"):
        assert view["status"] == "ended" and view["charged"] == 2 * demo["rate"]
    assert books_problems({demo["user"]: demo["balance"], demo["other"]: demo["balance"]}, clock()) == []
