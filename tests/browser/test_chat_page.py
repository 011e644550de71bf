"""The reference chat page in a real browser: Debian's Chromium, headless, on the local stage.

Three pages run side by side in one browser, so the whole story takes about as long as its
longest part (a minute of credits):
- steady: a user with plenty of credit watches 32 s, across the 15 s and 30 s polls, then ends;
- credits: a user whose balance covers one minute: the display freezes at 1:00 and says why;
- troubled: its first create request and its first poll after a reload fail; it says so and
  retries, the reload resumes the same session, and an end by the advisor shows at the next poll.
Every value #timer shows is recorded in the page by tests/browser/timeline.js.
"""

import itertools
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pytest

from chalicelib.local.seed import DEMO_ADVISOR, DEMO_RATE
from harness.client import HttpClient
from harness.http import call

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[2]
SCREENSHOT = PROJECT / "build" / "chat-page.png"
SCREENSHOT_CREDITS = PROJECT / "build" / "chat-page-credits.png"
TIMELINE_JS = (Path(__file__).parent / "timeline.js").read_text()

PLENTY = 10_000
ONE_MINUTE = DEMO_RATE + 51  # pays one minute at the demo rate, not two
WATCH_S = 32
POLL_S = 15


@dataclass
class PageRun:
    timeline: List[dict] = field(default_factory=list)
    api_requests: List[dict] = field(default_factory=list)
    session_id: Optional[str] = None
    notes: dict = field(default_factory=dict)


@dataclass
class Journey:
    steady: PageRun
    credits: PageRun
    troubled_before_reload: PageRun
    troubled: PageRun


def _wait(page, condition: str, timeout_s: float, what: str, arg=None) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(condition, arg=arg, timeout=timeout_s * 1000, polling=100)
    except PlaywrightTimeout:
        tail = page.evaluate("window.__timeline.slice(-5)")
        raise AssertionError(f"{what}: not within {timeout_s} s; last shown: {tail}") from None


def _seconds_at_least(page, seconds: int, timeout_s: float, what: str) -> None:
    _wait(page, "(n) => Number(document.getElementById('timer').dataset.elapsedSeconds) >= n", timeout_s, what, seconds)


def _stopped(page, timeout_s: float, what: str) -> None:
    _wait(page, "() => document.getElementById('timer').dataset.state === 'stopped'", timeout_s, what)


def _active(page, timeout_s: float, what: str) -> None:
    _wait(page, "() => !document.getElementById('end').disabled", timeout_s, what)


def _noticed(page, pattern: str, timeout_s: float, what: str) -> None:
    _wait(page, "(p) => window.__timeline.some((e) => new RegExp(p).test(e.notice))", timeout_s, what, pattern)


def _record(page, api_url: str, run: PageRun) -> PageRun:
    run.timeline = page.evaluate("window.__timeline")
    # Resource timing: when each API request started, on the page's own clock.
    run.api_requests = page.evaluate(
        """(api) => performance.getEntriesByType('resource')
            .filter((e) => e.name.startsWith(api)).map((e) => ({url: e.name, t: e.startTime}))""",
        api_url,
    )
    run.session_id = page.get_attribute("#session", "data-session-id")
    return run


@pytest.fixture(scope="module")
def journey(stage, browser) -> Journey:
    tag = uuid.uuid4().hex[:8]
    steady_user = stage.add_user(f"page-steady-{tag}", PLENTY)
    credits_user = stage.add_user(f"page-credits-{tag}", ONE_MINUTE)
    troubled_user = stage.add_user(f"page-troubled-{tag}", PLENTY)
    context = browser.new_context(viewport={"width": 900, "height": 640})
    context.add_init_script(TIMELINE_JS)
    url = f"{stage.web_url}/?advisor={DEMO_ADVISOR}&user="

    troubled_page = context.new_page()
    # The first create request fails as a dropped connection would.
    troubled_page.route(f"{stage.api_url}/sessions", lambda route: route.abort("connectionrefused"), times=1)
    troubled_page.goto(url + troubled_user)
    steady_page = context.new_page()
    steady_page.goto(url + steady_user)
    credits_page = context.new_page()
    credits_page.goto(url + credits_user)

    _active(troubled_page, 10, "the troubled page's session after its failed first create")
    _seconds_at_least(troubled_page, 3, 10, "the troubled page's count")
    before_reload = _record(troubled_page, stage.api_url, PageRun())
    before_reload.notes["shown"] = before_reload.timeline[-1]["seconds"]
    # The first poll after the reload fails too.
    troubled_page.route(
        f"{stage.api_url}/sessions/{before_reload.session_id}", lambda route: route.abort("connectionrefused"), times=1
    )
    troubled_page.reload()
    _active(troubled_page, 10, "the troubled page's resumed session")
    troubled = PageRun()
    troubled.notes["first_after_resume"] = int(troubled_page.get_attribute("#timer", "data-elapsed-seconds"))
    _noticed(troubled_page, "Lost contact", POLL_S + 10, "the troubled page's failed poll")
    _wait(troubled_page, "() => document.getElementById('notice').hidden", 10, "the troubled page's poll retry")
    ended = HttpClient(stage.api_url).end(DEMO_ADVISOR, before_reload.session_id)
    assert ended.status == 200, ended.body

    _seconds_at_least(steady_page, WATCH_S - 1, WATCH_S + 10, "the steady page's count")
    steady_page.screenshot(path=str(SCREENSHOT))
    credits = PageRun(
        notes={
            "low_balance": credits_page.text_content("#low-balance"),
            "low_balance_shown": credits_page.is_visible("#low-balance"),
        }
    )
    _seconds_at_least(steady_page, WATCH_S, 5, "the steady page's count")
    steady = _record(steady_page, stage.api_url, PageRun())
    steady_page.click("#end")
    _stopped(steady_page, 10, "the steady page after End")

    _stopped(troubled_page, POLL_S + 5, "the troubled page after the advisor ended its session")
    _record(troubled_page, stage.api_url, troubled)

    _stopped(credits_page, 75, "the page whose credits cover one minute")
    credits_page.wait_for_timeout(1500)  # a frozen display stays frozen
    credits_page.screenshot(path=str(SCREENSHOT_CREDITS))
    _record(credits_page, stage.api_url, credits)

    steady.notes["after_end"] = _record(steady_page, stage.api_url, PageRun()).timeline
    context.close()
    return Journey(steady, credits, before_reload, troubled)


def _running(timeline):
    return [entry for entry in timeline if entry["state"] == "running"]


def assert_counts_one_by_one(timeline, first=0):
    values = [entry["seconds"] for entry in timeline]
    assert values[0] == first, values[:5]
    # Entries also record notice changes, so a value may repeat; it may only ever grow by one.
    steps = [later - earlier for earlier, later in itertools.pairwise(values)]
    assert all(step in (0, 1) for step in steps), f"went back or skipped: {values}"


def test_shown_seconds_never_go_back_nor_skip_over_32_s(journey):
    shown = _running(journey.steady.timeline)
    assert_counts_one_by_one(shown)
    assert shown[-1]["seconds"] >= WATCH_S
    # ... and they follow real time: second n appears about n s after the page loaded.
    loaded = shown[0]["t"]
    offsets = sorted(e["t"] - loaded - 1000 * e["seconds"] for e in shown if e["seconds"] > 0)
    print(
        f"\nchat page: second n appeared n s + {offsets[len(offsets) // 2]:.0f} ms (median), "
        f"{offsets[0]:.0f}..{offsets[-1]:.0f} ms (range) after #timer was parsed, over {len(offsets)} seconds"
    )
    late = [
        (e["seconds"], round(e["t"] - loaded))
        for e in shown
        if not -100 <= e["t"] - loaded - 1000 * e["seconds"] <= 1000
    ]
    assert not late, f"(second, ms after load) off the real clock: {late}"


def test_the_page_polls_every_15_s_and_keeps_counting_through_the_polls(journey):
    run = journey.steady
    created = [r["t"] for r in run.api_requests if r["url"].endswith("/sessions")]
    polls = [r["t"] for r in run.api_requests if r["url"].endswith(f"/sessions/{run.session_id}")]
    assert len(created) == 1
    assert [round((t - created[0]) / 1000) for t in polls] == [POLL_S, 2 * POLL_S], polls
    # The 32 s checked one by one above include both polls: this shows they lie inside.
    shown = _running(run.timeline)
    assert shown[0]["t"] < polls[0] and polls[-1] + 1000 < shown[-1]["t"]


def test_end_stops_the_timer_and_says_why(journey):
    timeline = journey.steady.notes["after_end"]
    last_running = _running(timeline)[-1]["seconds"]
    stopped = [e for e in timeline if e["state"] == "stopped"]
    assert stopped, timeline[-3:]
    assert {e["seconds"] for e in stopped} <= {last_running, last_running + 1}
    assert len({e["seconds"] for e in stopped}) == 1, "the stopped timer moved"
    assert stopped[-1]["notice"] == "You ended the session."
    assert timeline[-1] == stopped[-1]


def test_a_session_out_of_credits_freezes_at_one_minute_and_says_so(journey):
    run = journey.credits
    assert run.notes["low_balance_shown"] and run.notes["low_balance"].startswith("Low balance")
    running = _running(run.timeline)
    assert_counts_one_by_one(running)
    frozen = [e for e in run.timeline if e["state"] == "stopped"]
    assert frozen and {e["seconds"] for e in frozen} == {60}, run.timeline[-5:]
    froze_after_s = (frozen[0]["t"] - running[0]["t"]) / 1000
    assert 59.5 <= froze_after_s <= 61.5, froze_after_s
    assert re.search(r"credits (have run out|ran out)", frozen[-1]["notice"]), frozen[-1]
    assert SCREENSHOT_CREDITS.stat().st_size > 10_000


def test_a_failed_start_is_said_and_retried_while_the_timer_runs(journey):
    timeline = journey.troubled_before_reload.timeline
    failed = [e for e in timeline if e["notice"].startswith("Could not start the session yet")]
    assert failed, timeline[:5]
    assert all(e["state"] == "running" for e in timeline)
    assert_counts_one_by_one(timeline)
    creates = [r for r in journey.troubled_before_reload.api_requests if r["url"].endswith("/sessions")]
    assert len(creates) == 2  # the failed one and its retry, with the same session id


def test_a_reload_resumes_the_same_session(journey):
    before, after = journey.troubled_before_reload, journey.troubled
    assert after.session_id == before.session_id
    assert after.notes["first_after_resume"] >= before.notes["shown"]
    resumed = [e for e in after.timeline if e["seconds"] >= before.notes["shown"]]
    assert_counts_one_by_one(_running(resumed), first=resumed[0]["seconds"])


def test_a_failed_poll_is_said_and_retried_without_losing_the_session(journey):
    run = journey.troubled
    lost = [e for e in run.timeline if e["notice"].startswith("Lost contact with the chat service")]
    assert lost and all(e["state"] == "running" for e in lost)
    polls = [r["t"] for r in run.api_requests if r["url"].endswith(f"/sessions/{run.session_id}")]
    assert len(polls) >= 3  # the failed one, its retry, the one that saw the advisor's end
    assert 0.5 <= (polls[1] - polls[0]) / 1000 <= 3


def test_an_end_by_the_advisor_shows_at_the_next_poll(journey):
    timeline = journey.troubled.timeline
    stopped = [e for e in timeline if e["state"] == "stopped"]
    assert stopped and stopped[-1]["notice"] == "Your advisor ended the session."
    assert len({e["seconds"] for e in stopped}) == 1


def test_the_api_answers_the_preflight_from_the_pages_origin(stage):
    reply = call(
        "OPTIONS",
        f"{stage.api_url}/sessions",
        headers={
            "Origin": stage.web_url,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-user-id",
        },
    )
    headers = {k.lower(): v for k, v in reply.headers.items()}
    assert reply.status == 200
    assert headers["access-control-allow-origin"] == stage.web_url
    assert "x-user-id" in headers["access-control-allow-headers"].lower()
    assert "POST" in headers["access-control-allow-methods"]
