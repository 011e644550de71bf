import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { ChatSession, POLL_INTERVAL_MS, REFUSED_BECAUSE, endedBecause, storageKey } from "../js/session.js";
import { FakeBackend, MemoryStorage, NETWORK_DOWN, VirtualTime, failure, settle } from "./fakes.js";

// The fake backend's timer starts this long after the page's (FakeBackend's default lagMs):
// a session ended at the page's 20 s lasted 19.985 s, which shows as 19.
const LAG_S = 0.015;

const USER = "demo-user";
const ADVISOR = "demo-advisor";

function openPage({ time = new VirtualTime(), backend = new FakeBackend(time), storage = new MemoryStorage(), ids = ["page-0001", "page-0002", "page-0003"], failures = [] } = {}) {
  const fresh = [...ids];
  for (const [op, outcome] of failures) backend.failNext(op, outcome);
  const session = new ChatSession({
    api: backend.api(),
    now: time.now,
    schedule: time.schedule,
    storage,
    user: USER,
    advisor: ADVISOR,
    newSessionId: () => fresh.shift(),
  });
  session.begin();
  return { time, backend, storage, session };
}

// Redraws every 200 ms for `ms` of virtual time (requests and retries run as they fall due);
// returns every frame drawn.
async function watch(page, ms) {
  const frames = [];
  for (let t = 0; t < ms; t += 200) {
    await page.time.advance(200);
    frames.push(page.session.tick());
  }
  return frames;
}

function assertSteadyCount(frames) {
  for (let i = 1; i < frames.length; i += 1) {
    const step = frames[i].seconds - frames[i - 1].seconds;
    assert.ok(step === 0 || step === 1, `${frames[i - 1].seconds} then ${frames[i].seconds}`);
  }
}

const pollTimes = (page) => page.backend.callsOf("poll").map((call) => call.at - page.session.startMono);

describe("ChatSession", () => {
  it("starts the timer at load and creates the session with a fresh id it keeps for a reload", async () => {
    const page = openPage();
    assert.deepEqual(page.backend.callsOf("start")[0].args, [ADVISOR, "page-0001"]);
    assert.equal(page.storage.getItem(storageKey(USER, ADVISOR)), "page-0001");
    const frames = await watch(page, 2_000);
    assert.equal(frames.at(-1).state, "running");
    assert.equal(frames.at(-1).seconds, 2);
    assert.equal(frames.at(-1).phase, "active");
    assert.equal(frames.at(-1).ratePerMinute, 199);
    assert.equal(frames.at(-1).balance, 10_000);
    assert.equal(frames.at(-1).notice, null);
    assert.ok(frames.at(-1).canEnd);
  });

  it("polls every 15 s and never shows less or skips a second across the polls", async () => {
    const time = new VirtualTime();
    // The backend started 40 ms after the page: it answers 40 ms less.
    const page = openPage({ time, backend: new FakeBackend(time, { lagMs: 40 }) }); // the backend started 40 ms after the page: it answers 40 ms less
    const frames = await watch(page, 32_000);
    assert.deepEqual(pollTimes(page), [POLL_INTERVAL_MS, 2 * POLL_INTERVAL_MS]);
    assertSteadyCount(frames);
    assert.equal(frames.at(-1).seconds, 31); // 31.96 s on the backend's clock
  });

  it("keeps to the backend's clock when the create request took long to get there", async () => {
    const time = new VirtualTime();
    const backend = new FakeBackend(time, { lagMs: 0 }); // its timer starts as the request lands
    backend.requestLegMs.start = 300; // the config fetch and a CORS preflight go first
    const page = openPage({ time, backend });
    await watch(page, 5_000);
    const backendSays = backend.view(backend.sessions.get("page-0001")).elapsed_seconds * 1000;
    assert.ok(Math.abs(page.session.display.targetMs(time.now()) - backendSays) < 1, `${page.session.display.targetMs(time.now())} vs ${backendSays}`);
  });

  it("says a failed start and retries it with the same id, without restarting the timer", async () => {
    const page = openPage({ failures: [["start", NETWORK_DOWN], ["start", failure(503, "service_unavailable", "try again")]] });
    await settle();
    const first = page.session.tick();
    // The first answer (a network failure) came back at once; the fake fails twice.
    assert.match(first.notice.text, /Could not start the session yet \(the service cannot be reached\)\. Retrying in 1 s/);
    assert.equal(first.state, "running");
    const frames = await watch(page, 4_000);
    const starts = page.backend.callsOf("start");
    assert.equal(starts.length, 3);
    assert.ok(starts.every((call) => call.args[1] === "page-0001"));
    assert.deepEqual(starts.map((c) => c.at - page.session.startMono), [0, 1_000, 3_000]);
    assertSteadyCount([first, ...frames]);
    assert.equal(frames.at(-1).phase, "active");
    assert.equal(frames.at(-1).notice, null);
    // The session began 3 s after the page, which showed 2 then: it holds 2 until the
    // backend's count catches up, rather than going back or starting over at 0.
    assert.ok(frames.every((f) => f.state === "running"));
    assert.equal(frames.at(-1).seconds, 2);
    assert.equal((await watch(page, 2_000)).at(-1).seconds, 3); // counting again
  });

  it("says a failed poll and retries it, keeping the session and the count", async () => {
    const page = openPage();
    page.backend.failNext("poll", NETWORK_DOWN);
    const before = await watch(page, 15_000);
    const failed = page.session.tick();
    assert.match(failed.notice.text, /Lost contact with the chat service .*Retrying in 1 s; your session goes on/);
    assert.equal(failed.state, "running");
    const after = await watch(page, 16_000);
    assertSteadyCount([...before, failed, ...after]);
    assert.deepEqual(pollTimes(page), [15_000, 16_000, 30_000]);
    assert.ok(page.backend.callsOf("poll").every((call) => call.args[0] === "page-0001"));
    assert.equal(after.at(-1).notice, null);
    assert.equal(after.at(-1).seconds, Math.floor(31 - LAG_S));
  });

  it("backs off after repeated failures and honours Retry-After", async () => {
    const page = openPage();
    page.backend.failNext("poll", NETWORK_DOWN);
    page.backend.failNext("poll", NETWORK_DOWN);
    page.backend.failNext("poll", failure(503, "service_unavailable", "busy", { retryAfterMs: 5_000 }));
    await watch(page, 25_000);
    assert.deepEqual(pollTimes(page).slice(0, 4), [15_000, 16_000, 18_000, 23_000]);
  });

  it("resumes the same session after a reload", async () => {
    const time = new VirtualTime();
    const backend = new FakeBackend(time);
    const storage = new MemoryStorage();
    const first = openPage({ time, backend, storage });
    await watch(first, 3_000); // a quick reload: a gap the display would otherwise count up
    const shownBefore = first.session.tick().seconds;
    first.session.cancelPending?.(); // the old page is gone with its timers

    const reloaded = openPage({ time, backend, storage, ids: ["page-never-used"] });
    const frames = await watch(reloaded, 200);
    assert.deepEqual(backend.callsOf("start").map((c) => c.args[1]), ["page-0001", "page-0001"]);
    assert.equal(frames.at(-1).sessionId, "page-0001");
    // The first redraw after the answer shows the session's time, not a count up to it.
    assert.ok(frames.at(-1).seconds >= shownBefore, `${frames.at(-1).seconds} < ${shownBefore}`);
    assert.equal(frames.at(-1).state, "running");
  });

  it("ends on request: stops the timer, says so and polls no more", async () => {
    const page = openPage();
    await watch(page, 20_000);
    page.session.end();
    assert.equal(page.session.tick().canEnd, false);
    const frames = await watch(page, 30_000);
    const last = frames.at(-1);
    assert.equal(last.state, "stopped");
    assert.equal(last.endReason, "user");
    assert.equal(last.notice.text, "You ended the session.");
    assert.equal(last.seconds, Math.floor(20 - LAG_S));
    assert.ok(last.canRestart);
    assert.deepEqual(pollTimes(page), [15_000]);
  });

  it("retries a failed end until it is recorded", async () => {
    const page = openPage();
    await watch(page, 10_000);
    page.backend.failNext("end", NETWORK_DOWN);
    page.session.end();
    await settle();
    let frame = page.session.tick();
    assert.match(frame.notice.text, /Could not end the session yet .*Retrying in 1 s/);
    assert.equal(frame.state, "running"); // billing goes on until the end is recorded
    frame = (await watch(page, 2_000)).at(-1);
    assert.equal(frame.state, "stopped");
    assert.equal(frame.endReason, "user");
    assert.equal(page.backend.callsOf("end").length, 2);
  });

  it("ignores a poll that answers after the end: the session does not come back", async () => {
    const page = openPage();
    page.backend.latencyMs.poll = 600;
    await watch(page, 15_200); // the 15 s poll is on its way
    page.session.end();
    await settle();
    assert.equal(page.session.tick().phase, "ended");
    const frames = await watch(page, 20_000); // its stale "active" answer arrives at 15.6 s
    assert.ok(frames.every((f) => f.phase === "ended" && f.state === "stopped"));
    assert.deepEqual(pollTimes(page), [15_000]);
  });

  it("shows an end by the advisor at the next poll", async () => {
    const page = openPage();
    await watch(page, 20_000);
    page.backend.endAs("page-0001", "advisor");
    const frames = await watch(page, 11_000);
    const seen = frames.findIndex((f) => f.state === "stopped");
    assert.ok(seen > 0);
    assert.equal(frames[seen - 1].seconds, 29); // it ran on until the 30 s poll told it
    const last = frames.at(-1);
    assert.equal(last.endReason, "advisor");
    assert.equal(last.notice.text, "Your advisor ended the session.");
    assert.equal(last.seconds, Math.floor(20 - LAG_S)); // the session's true length, as billed
  });

  it("freezes when the credits run out, says so, and shows the end the billing run records", async () => {
    const time = new VirtualTime();
    const page = openPage({ time, backend: new FakeBackend(time, { balance: 250 }) });
    const frames = await watch(page, 62_000);
    assertSteadyCount(frames);
    assert.ok(frames.find((f) => f.seconds === 30).lowBalance);
    const frozen = frames.filter((f) => f.state === "stopped");
    assert.ok(frozen.length > 0);
    assert.ok(frozen.every((f) => f.seconds === 60 && f.endReason === "credits_exhausted"));
    assert.match(frozen[0].notice.text, /credits have run out/);
    assert.equal(frames.at(-1).canEnd, true); // still active on the backend until billing ends it
    page.backend.endAs("page-0001", "credits_exhausted");
    const later = (await watch(page, 15_000)).at(-1);
    assert.equal(later.phase, "ended");
    assert.equal(later.seconds, 60);
    assert.equal(later.notice.text, "Your credits ran out, so the session has ended.");
  });

  it("refuses clearly when the balance is below one minute, and forgets the unused id", async () => {
    const time = new VirtualTime();
    const page = openPage({ time, backend: new FakeBackend(time, { balance: 100 }) });
    const frame = (await watch(page, 1_000)).at(-1);
    assert.equal(frame.state, "stopped");
    assert.equal(frame.seconds, 0);
    assert.equal(frame.notice.kind, "error");
    assert.equal(frame.notice.text, "Your balance is below one minute at this advisor's rate.");
    assert.equal(page.storage.getItem(storageKey(USER, ADVISOR)), null);
    assert.equal(page.backend.callsOf("start").length, 1); // an answer, not a failure: no retry
  });

  it("explains only error codes the API really sends (chalicelib/domain/errors.py)", () => {
    const source = readFileSync(new URL("../../chalicelib/domain/errors.py", import.meta.url), "utf8");
    const apiCodes = new Set([...source.matchAll(/^\s+code = "([a-z_]+)"$/gm)].map((match) => match[1]));
    assert.ok(apiCodes.has("insufficient_credit"), `codes read from errors.py: ${[...apiCodes]}`);
    for (const code of [...Object.keys(REFUSED_BECAUSE), "active_session_exists"]) {
      assert.ok(apiCodes.has(code), `the page maps "${code}", which the API never sends`);
    }
  });

  it("takes over the user's active session with this advisor (a second tab)", async () => {
    const time = new VirtualTime();
    const backend = new FakeBackend(time);
    const first = openPage({ time, backend, storage: new MemoryStorage(), ids: ["page-tab-1"] });
    await watch(first, 5_000);
    first.session.cancelPending?.();
    const second = openPage({ time, backend, storage: new MemoryStorage(), ids: ["page-tab-2"] });
    const frame = (await watch(second, 1_000)).at(-1);
    assert.equal(frame.sessionId, "page-tab-1");
    assert.equal(frame.phase, "active");
    assert.ok(frame.seconds >= 5);
    assert.equal(second.storage.getItem(storageKey(USER, ADVISOR)), "page-tab-1");
  });

  it("refuses when the user's active session is with another advisor", async () => {
    const time = new VirtualTime();
    const backend = new FakeBackend(time);
    const api = backend.api();
    await api.start(ADVISOR, "page-elsewhere");
    backend.sessions.get("page-elsewhere").advisor = "other-advisor";
    const page = openPage({ time, backend });
    const frame = (await watch(page, 1_000)).at(-1);
    assert.equal(frame.phase, "refused");
    assert.equal(frame.notice.text, "You already have an active session with other-advisor.");
  });

  it("stops and says so when the session disappears (404 on a poll)", async () => {
    const page = openPage();
    page.backend.failNext("poll", failure(404, "session_not_found", "no such session"));
    const frames = await watch(page, 16_000);
    const last = frames.at(-1);
    assert.equal(last.phase, "lost");
    assert.equal(last.state, "stopped");
    assert.equal(last.seconds, Math.floor(15 - LAG_S)); // as shown when it was lost
    assert.match(last.notice.text, /no longer available: no such session/);
  });

  it("keeps a session alive under the default idle limit for as long as it polls", async () => {
    const page = openPage(); // SESSION_IDLE_SECONDS 120: every 15 s poll is a sighting
    const frames = await watch(page, 5 * 60_000);
    assert.ok(frames.every((f) => f.phase === "active" && f.state === "running" && f.endReason === null));
    assert.equal(frames.at(-1).seconds, Math.floor(300 - LAG_S));
  });

  it("says a session ended for want of activity, in the limit the view gives", async () => {
    // The backend records a sighting at most every 30 s (a quarter of 120 s): at the start
    // and at the 45 s poll (the 15 s and 30 s ones came sooner than that after the start).
    // Then the network goes: polls fail from 60 s on, retried after 1, 2, 4, 8, then every
    // 15 s. The session ends at 45 s + 2:00, which the first poll that gets through (3:00) says.
    const page = openPage();
    await watch(page, 50_000);
    for (let i = 0; i < 11; i += 1) page.backend.failNext("poll", NETWORK_DOWN);
    const frames = await watch(page, 135_000);
    const failed = [60_000, 61_000, 63_000, 67_000, 75_000, 90_000, 105_000, 120_000, 135_000, 150_000, 165_000];
    assert.deepEqual(pollTimes(page), [15_000, 30_000, 45_000, ...failed, 180_000]);
    const retrying = frames.filter((f) => f.phase === "active");
    assert.ok(retrying.every((f) => f.state === "running"));
    assert.match(retrying.at(-1).notice.text, /Lost contact with the chat service/);
    const stopped = frames.filter((f) => f.state === "stopped");
    assert.ok(stopped.length > 0);
    for (const frame of stopped) {
      assert.equal(frame.phase, "ended");
      assert.equal(frame.endReason, "idle");
      assert.deepEqual(frame.notice, { kind: "warn", text: "The session has ended: no activity for 2 minutes." });
      // The session's true length, as billed: it ended at the idle instant, not at 3:00.
      assert.equal(frame.seconds, Math.floor(165 - LAG_S));
      assert.ok(frame.canRestart && !frame.canEnd);
    }
    assert.equal((await watch(page, 30_000)).at(-1).seconds, 164);
    assert.equal(pollTimes(page).length, 15); // no poll after the end
  });

  it("says the idle end in seconds when the limit is not whole minutes", async () => {
    const time = new VirtualTime();
    const page = openPage({ time, backend: new FakeBackend(time, { idleS: 6 }) });
    const frames = await watch(page, 16_000);
    // It counted on to the 15 s poll, which found the session ended at 6 s.
    assert.equal(frames.filter((f) => f.state === "running").at(-1).seconds, 14);
    const last = frames.at(-1);
    assert.equal(last.state, "stopped");
    assert.equal(last.endReason, "idle");
    assert.equal(last.notice.text, "The session has ended: no activity for 6 seconds.");
    assert.equal(last.seconds, 6); // seen last at the start: exactly the limit after it
  });

  it("shows the idle end when End comes after it, not an end by the user", async () => {
    const time = new VirtualTime();
    const page = openPage({ time, backend: new FakeBackend(time, { idleS: 60 }) });
    page.backend.failNext("poll", failure(503, "service_unavailable", "busy", { retryAfterMs: 60_000 }));
    await watch(page, 70_000); // seen at the start only: idle from 1:00; the retry is due at 1:15
    assert.equal(page.session.tick().phase, "active");
    page.session.end();
    const last = (await watch(page, 1_000)).at(-1);
    assert.equal(last.endReason, "idle");
    assert.equal(last.notice.text, "The session has ended: no activity for 1 minute.");
    assert.equal(last.notice.kind, "warn");
    assert.equal(last.seconds, 60);
    assert.equal(page.backend.callsOf("end").length, 1);
  });

  it("words every end reason the API sends, and an idle end without its limit", () => {
    assert.equal(endedBecause({ end_reason: "idle", idle_timeout_seconds: 120 }), "The session has ended: no activity for 2 minutes.");
    assert.equal(endedBecause({ end_reason: "idle", idle_timeout_seconds: 300 }), "The session has ended: no activity for 5 minutes.");
    assert.equal(endedBecause({ end_reason: "idle" }), "The session has ended: no activity for too long.");
    assert.equal(endedBecause({ end_reason: "advisor", idle_timeout_seconds: 120 }), "Your advisor ended the session.");
    assert.equal(endedBecause({ end_reason: "toString" }), "The session has ended.");
    const source = readFileSync(new URL("../../chalicelib/domain/session.py", import.meta.url), "utf8");
    const reasons = [...source.matchAll(/^END_[A-Z_]+ = "([a-z_]+)"/gm)].map((match) => match[1]);
    assert.ok(reasons.includes("idle"), `end reasons read from session.py: ${reasons}`);
    for (const reason of reasons) {
      assert.notEqual(endedBecause({ end_reason: reason, idle_timeout_seconds: 120 }), "The session has ended.", reason);
    }
  });
});
