"""The chat page in Chromium when the backend ends a session for want of activity: a local
stage of its own with SESSION_IDLE_SECONDS=6, shorter than the page's 15 s polling, so a
page's user is seen at the start only and the session is over 6 s later.

Two pages side by side, about 16 s in all:
- asleep: its first poll (at 15 s) is answered with the idle end; it stops the timer at the
  session's true length (6 s) and says "no activity for 6 seconds";
- back: reloaded after the idle instant, it resumes its session and is told the same at once;
  "Start a new session" then starts one (the user is free to).
Billing runs every 60 s, after all of this: each idle end is found and written by the very
request the page made, not by a billing run.
"""

import itertools
import uuid
from datetime import datetime

import pytest

from chalicelib.local.seed import DEMO_ADVISOR, DEMO_RATE
from harness.client import HttpClient
from harness.local_stage import RunningStage
from tests.browser.test_chat_page import TIMELINE_JS, PageRun, _active, _record, _seconds_at_least, _stopped

pytestmark = pytest.mark.e2e

IDLE_S = 6
NOTICE = "The session has ended: no activity for 6 seconds."
PLENTY = 10_000


@pytest.fixture(scope="module")
def idle_stage():
    # Explicit: this module-scoped stage starts before tests/conftest.py's per-test
    # SESSION_IDLE_SECONDS (ten years), and its idle limit is what this module is about.
    running = RunningStage(billing_interval_s=60, extra_env={"SESSION_IDLE_SECONDS": str(IDLE_S)}).start()
    yield running
    running.stop()


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def lived_idle(view) -> bool:
    """Ended the limit after its one sighting: the start's write, sent a few ms (under load,
    tens) after the timer's start."""
    lived_ms = _ms(view["ended_at"]) - _ms(view["started_at"])
    return IDLE_S * 1000 <= lived_ms < IDLE_S * 1000 + 1000


def test_the_page_says_a_session_ended_for_want_of_activity(idle_stage, browser):
    stage = idle_stage
    tag = uuid.uuid4().hex[:8]
    asleep_user = stage.add_user(f"page-asleep-{tag}", PLENTY)
    back_user = stage.add_user(f"page-back-{tag}", PLENTY)
    context = browser.new_context(viewport={"width": 900, "height": 640})
    context.add_init_script(TIMELINE_JS)
    url = f"{stage.web_url}/?advisor={DEMO_ADVISOR}&user="
    asleep_page = context.new_page()
    asleep_page.goto(url + asleep_user)
    back_page = context.new_page()
    back_page.goto(url + back_user)
    _active(asleep_page, 10, "the asleep page's session")
    _active(back_page, 10, "the back page's session")
    back_id = back_page.get_attribute("#session", "data-session-id")

    # The back page: its user returns (a reload) after the idle instant.
    _seconds_at_least(back_page, IDLE_S + 1, 12, "the back page's count")
    back_page.reload()
    _stopped(back_page, 10, "the reloaded page of an idle session")
    back = _record(back_page, stage.api_url, PageRun())
    back.notes["notice"] = back_page.text_content("#notice")
    back.notes["can_end"] = back_page.is_enabled("#end")
    back.notes["can_restart"] = back_page.is_visible("#new")
    back_page.click("#new")  # forgets the ended session and loads afresh
    _active(back_page, 10, "the new session after the idle one")
    back.notes["new_session"] = back_page.get_attribute("#session", "data-session-id")
    back.notes["new_state"] = back_page.get_attribute("#timer", "data-state")
    # Asked before it goes idle in turn (6 s after its start).
    back.notes["new_view"] = HttpClient(stage.api_url).poll(back_user, back.notes["new_session"]).body

    # The asleep page: nothing but its own 15 s poll.
    _stopped(asleep_page, 25, "the asleep page at its first poll")
    asleep_page.wait_for_timeout(1500)  # a stopped display stays stopped, and polls no more
    asleep = _record(asleep_page, stage.api_url, PageRun())
    asleep.notes["notice"] = asleep_page.text_content("#notice")
    asleep.notes["notice_class"] = asleep_page.get_attribute("#notice", "class")
    asleep.notes["can_end"] = asleep_page.is_enabled("#end")
    asleep.notes["charged"] = asleep_page.text_content("#charged")
    context.close()

    api = HttpClient(stage.api_url)
    asleep_view = api.poll(asleep_user, asleep.session_id).body
    back_view = api.poll(back_user, back_id).body

    # The asleep page counted on, one by one, until its 15 s poll told it otherwise.
    running = [e for e in asleep.timeline if e["state"] == "running"]
    values = [e["seconds"] for e in running]
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(values)), values
    assert values[-1] >= 14, values[-5:]
    # Then it froze at the session's true length, with the idle notice.
    stopped = [e for e in asleep.timeline if e["state"] == "stopped"]
    assert stopped, asleep.timeline[-5:]
    assert {e["seconds"] for e in stopped} == {IDLE_S}, stopped
    assert {e["notice"] for e in stopped} == {NOTICE}
    assert asleep.notes["notice"] == NOTICE
    assert asleep.notes["notice_class"] == "notice notice--warn"
    assert not asleep.notes["can_end"]
    assert asleep.notes["charged"] == f"{DEMO_RATE / 100:.2f} credits"
    polls = [r for r in asleep.api_requests if r["url"].endswith(f"/sessions/{asleep.session_id}")]
    assert len(polls) == 1, polls  # the 15 s one: none after the end

    # What the page showed is what the backend recorded: ended 6 s after the start's write was
    # sent (the user's one sighting; a few ms after the timer's start), one minute.
    assert (asleep_view["status"], asleep_view["end_reason"]) == ("ended", "idle")
    assert asleep_view["idle_timeout_seconds"] == IDLE_S
    assert lived_idle(asleep_view)
    assert (asleep_view["billed_minutes"], asleep_view["charged"]) == (1, DEMO_RATE)

    # The back page: told at once by its resumed start, not by a count up to a poll.
    assert back.session_id == back_id
    assert back.notes["notice"] == NOTICE
    assert not back.notes["can_end"] and back.notes["can_restart"]
    assert [e["seconds"] for e in back.timeline if e["state"] == "stopped"][-1] == IDLE_S
    assert (back_view["status"], back_view["end_reason"]) == ("ended", "idle")
    assert lived_idle(back_view)
    # ... and its user starts a new session straight away.
    assert back.notes["new_session"] != back_id
    assert back.notes["new_state"] == "running"
    assert (back.notes["new_view"]["status"], back.notes["new_view"]["end_reason"]) == ("active", None)
