"""The idle rule's races, each forced through the race explorer (harness/explorer.py) with a
fixed schedule, as in test_race_fixes.py: the user's poll records them as seen (the
heartbeat) while a billing run, the advisor's poll or an end wants to end the session as idle
right at its idle instant.

The idle limit is 60 s and the session is started at t0 and never polled before, so it
goes idle at t0 + 60 s; a poll is due to record the user from t0 + 15 s on. Every explorer
step moves the clock one second; each schedule starts at t0 + 58 s, so the poll's first step
reads the clock at t0 + 59 s, one second before the idle instant.
"""

from typing import Dict, List, Optional, Tuple

import pytest

from chalicelib.services.billing import RunReport, bill_session
from chalicelib.services.end import end_session
from chalicelib.services.poll import poll_session
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.billing import books_problems
from harness.dynamo import active_sessions_of, add_advisor, add_user, ledger_of, raw_client, session_item
from harness.explorer import Explorer, Operation
from tests.integration.test_race_fixes import scripted, start

RATE = 100
BALANCE = 100 * RATE
IDLE_SECONDS = 60
USER, ADVISOR, SID = "u-idle", "a-adv", "idle-race-01"


@pytest.fixture
def idle_store(dynamo, monkeypatch):
    """A store whose idle limit is IDLE_SECONDS (settings are read when a store is built)."""
    monkeypatch.setenv("SESSION_IDLE_SECONDS", str(IDLE_SECONDS))
    monkeypatch.setenv("ACTIVE_SHARDS", "1")  # billing's first query finds the session
    add_user(USER, BALANCE)
    add_advisor(ADVISOR, RATE)
    return DynamoStore(current())


@pytest.fixture
def t0(idle_store, clock) -> int:
    """The session's start (and the user's only sighting so far)."""
    begun = clock()
    start(idle_store, clock, USER, SID, advisor=ADVISOR)
    return begun


def race(schedule, calls: dict, start_ms: int, moves: Optional[List[int]] = None) -> Tuple[Dict[str, dict], List[str]]:
    """Run `calls` under `schedule`, the clock moving by `moves` at the first steps (one second
    a step after them, and throughout without them); every result, and the explorer's log."""
    ahead = list(moves or [])
    explorer = Explorer(start_ms, choose=schedule, advance=lambda: ahead.pop(0) if ahead else 1000)
    operations = [Operation(label, call(explorer.clock)) for label, call in calls.items()]
    with explorer.at_client_boundary():
        explorer.run(operations)
    for op in operations:
        if op.error is not None:
            raise AssertionError(f"{op.label} failed:\n{op.trace}\n" + "\n".join(explorer.log))
    return {op.label: op.result for op in operations}, explorer.log


def bill_all(store, clock) -> RunReport:
    report = RunReport()
    for shard in range(store.settings.active_shards):
        for session in store.active_sessions(shard):
            bill_session(store, clock, session, report)
    return report


def last_seen(user: str, session_id: str):
    item = raw_client().get_item(TableName=current().accounts_table, Key={"user_id": {"S": user}}, ConsistentRead=True)[
        "Item"
    ]
    value = item.get(f"last_seen:{session_id}")
    return None if value is None else int(value["N"])


def landed(log: List[str], label: str, stop: str) -> int:
    """The step at which `label` was let go from `stop` (e.g. "before UpdateItem")."""
    return next(int(line.split()[0]) for line in log if f"{label}: {stop}" in line)


# The user's poll: it reads the clock (t0 + 59 s) before its snapshot, reads, finds its
# heartbeat due and stops right before writing it.
POLL_UNTIL_ITS_HEARTBEAT = ("poll", "poll", "poll")


def user_poll(store):
    return lambda c: lambda: poll_session(store, c, USER, SID)


def test_a_heartbeat_landing_inside_a_billing_run_keeps_the_session(idle_store, t0):
    """Billing charges as if the user were there and is refused (their last-seen is t0: idle
    since t0 + 60 s); the user's heartbeat of t0 + 59 s lands; billing's idle end, decided from
    the refusal's last-seen, is refused in turn; billing decides again from the heartbeat and
    charges the minutes owed, and the session goes on."""
    results, log = race(
        scripted(*POLL_UNTIL_ITS_HEARTBEAT, "bill", "bill", "bill", "poll", "bill*"),
        {"poll": user_poll(idle_store), "bill": lambda c: lambda: bill_all(idle_store, c)},
        t0 + 58_000,
    )
    refused = [line for line in log if "bill: after refused TransactWriteItems" in line]
    assert len(refused) == 2, "\n".join(log)  # the charge assuming presence, then the idle end
    assert landed(log, "poll", "before UpdateItem") < int(refused[1].split()[0]), "\n".join(log)

    report, seen = results["bill"], results["poll"]
    assert (seen["status"], seen["elapsed_seconds"]) == ("active", 59.0), seen
    assert (report.sessions_charged, report.ended_idle, report.minutes_charged) == (1, 0, 2), report
    stored = session_item(SID)
    assert (stored.status, stored.billed_minutes, stored.end_reason) == ("active", 2, None)
    assert [(int(i.first_minute), int(i.minutes), i.kind) for i in ledger_of(SID)] == [(1, 2, "billing")]
    assert last_seen(USER, SID) == t0 + 59_000
    assert books_problems({USER: BALANCE}, t0 + 70_000) == []


def test_an_end_whose_idle_end_a_heartbeat_refused_ends_the_session_as_asked(idle_store, t0):
    """The advisor's end reads at t0 + 62 s (idle since t0 + 60 s) and decides an idle end; the
    heartbeat of t0 + 59 s lands before that end commits: refused, the end reads again and ends
    the session as the advisor's end, stamped when it commits."""
    results, log = race(
        # The advisor's end reads twice (its first read names the user): past both, it decides.
        scripted(*POLL_UNTIL_ITS_HEARTBEAT, "end", "end", "end", "end", "poll", "end*"),
        {"poll": user_poll(idle_store), "end": lambda c: lambda: end_session(idle_store, c, ADVISOR, SID)},
        t0 + 58_000,
    )
    assert any("end: after refused TransactWriteItems" in line for line in log), "\n".join(log)
    ended = results["end"]
    assert (ended["status"], ended["end_reason"]) == ("ended", "advisor"), ended
    assert ended["elapsed_seconds"] > 60, ended
    assert last_seen(USER, SID) is None and active_sessions_of(USER) == set()
    assert books_problems({USER: BALANCE}, t0 + 70_000) == []


@pytest.mark.parametrize("ender", ["bill", "advisor-poll", "user-end"])
def test_an_idle_end_landing_first_refuses_the_heartbeat(idle_store, t0, ender):
    """The session is ended as idle at t0 + 60 s (by a billing run, the advisor's poll or the
    user's own end) while the user's poll of t0 + 59 s waits to record them: the heartbeat is
    refused (the session is no longer on the account), nothing revives the session, and the
    account keeps no last-seen for it."""
    calls = {
        "bill": lambda c: lambda: bill_all(idle_store, c),
        "advisor-poll": lambda c: lambda: poll_session(idle_store, c, ADVISOR, SID),
        "user-end": lambda c: lambda: end_session(idle_store, c, USER, SID),
    }
    results, log = race(
        scripted(*POLL_UNTIL_ITS_HEARTBEAT, f"{ender}*", "poll*"),
        {"poll": user_poll(idle_store), ender: calls[ender]},
        t0 + 58_000,
    )
    assert any("poll: after refused UpdateItem" in line for line in log), "\n".join(log)

    stored = session_item(SID)
    assert (stored.status, stored.end_reason, int(stored.ended_at_ms)) == ("ended", "idle", t0 + 60_000)
    assert int(stored.billed_minutes) == 1
    assert last_seen(USER, SID) is None and active_sessions_of(USER) == set()
    later = poll_session(idle_store, lambda: t0 + 90_000, USER, SID)
    assert (later["status"], later["end_reason"], later["elapsed_seconds"]) == ("ended", "idle", 60.0), later
    assert last_seen(USER, SID) is None and session_item(SID).status == "ended"
    assert books_problems({USER: BALANCE}, t0 + 90_000) == []


def test_a_start_slower_than_the_idle_limit_keeps_its_timer_from_going_back(idle_store, clock):
    """Timer rule 4 across a slow start. The start reads its clock first (t0, timer rule 2);
    here its decision read takes 61 s (a limit of
    60 s, the explorer's clock: in production a limit of 5 s and a start slowed by retries).
    Its answer shows the session active with 61 s elapsed; the next poll must not show less.
    The start records its user as seen when its write is sent, not at t0: recorded at t0, the
    session was created past its idle instant and the next poll ended it at t0 + 60 s."""
    t0 = clock()
    results, log = race(
        scripted("start*"),
        {"start": lambda c: lambda: start(idle_store, c, USER, "slow-start-01", advisor=ADVISOR).view},
        t0,
        # The clock read at t0; the decision read's first item at t0 + 61 s, and no move after.
        moves=[0, 61_000] + [0] * 20,
    )
    answer = results["start"]
    assert (answer["status"], answer["elapsed_seconds"]) == ("active", 61.0), answer
    after = poll_session(idle_store, lambda: t0 + 61_000, USER, "slow-start-01")
    assert after["elapsed_seconds"] >= answer["elapsed_seconds"], (answer, after)
