"""The local stage drives the scheduled billing function (chalice local never runs schedules)."""

import time
import uuid


def test_an_active_session_is_billed_by_the_driver_without_ending(client, seeded):
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
    ended = client.end(user, sid).body
    assert ended["charged"] == 199  # the end owes nothing more within the first minute
