"""The local stage drives the scheduled billing function (chalice local never runs schedules),
through the same queue path as deployed: dispatcher, a queue on moto, the worker."""

import json
import time
import uuid


def _log_events(stage) -> list:
    lines = [line for line in stage.output().splitlines() if line.startswith("{")]
    return [event for event in map(json.loads, lines) if "event" in event]


def test_an_active_session_is_billed_by_the_driver_without_ending(stage, client, seeded):
    user, sid = seeded(10_000), "bill-" + uuid.uuid4().hex[:12]
    client.start(user, "demo-advisor", sid)
    deadline = time.monotonic() + 15
    view = client.poll(user, sid).body
    while view["billed_minutes"] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        view = client.poll(user, sid).body
    assert view["billed_minutes"] == 1
    assert view["status"] == "active"
    assert view["balance"] == 10_000 - 199
    events = _log_events(stage)
    dispatched = [e for e in events if e["event"] == "billing_dispatched"]
    assert dispatched and dispatched[0]["sent"] == dispatched[0]["shards"] and dispatched[0]["unsent"] == 0
    runs = [e for e in events if e["event"] == "billing_run" and e["minutes_charged"]]
    # Charged by the queue's worker (its run line lists its batch's shards), never by the
    # scheduled function itself (whose single run would carry the event id instead). Not the
    # logger's function_name: the local stage's threads share one logger, so a request served
    # at the same moment may have set it.
    assert runs and all("shards" in e and "event_id" not in e for e in runs)
    ended = client.end(user, sid).body
    assert ended["charged"] == 199  # the end owes nothing more within the first minute
