import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CATCH_UP_LIMIT_S, ElapsedDisplay, REDRAW_MS } from "../js/display.js";

// Redraws every REDRAW_MS (optionally with jitter) from `from` to `to`, returning what was shown.
function run(display, from, to, { jitter = () => 0, step = REDRAW_MS, events = [] } = {}) {
  const shown = [];
  const pending = [...events].sort((a, b) => a.at - b.at);
  for (let t = from; t <= to; t += step + jitter()) {
    while (pending.length && pending[0].at <= t) pending.shift().apply(display, t);
    shown.push(display.redraw(t));
  }
  return shown;
}

function assertNoJumps(shown) {
  for (let i = 1; i < shown.length; i += 1) {
    const step = shown[i] - shown[i - 1];
    assert.ok(step === 0 || step === 1, `shown ${shown[i - 1]} then ${shown[i]} at redraw ${i}`);
  }
}

// A small deterministic generator: the same random scenarios on every run.
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe("ElapsedDisplay", () => {
  it("counts whole seconds from page load, one at a time", () => {
    const display = new ElapsedDisplay(5_000);
    const shown = run(display, 5_000, 15_000);
    assertNoJumps(shown);
    assert.equal(shown[0], 0);
    assert.equal(shown.at(-1), 10);
    assert.deepEqual([...new Set(shown)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("never skips a second when redraws come late: it catches up one per redraw", () => {
    const display = new ElapsedDisplay(0);
    assert.equal(display.redraw(900), 0);
    assert.equal(display.redraw(3_100), 1); // a throttled timer: 3 s are due
    assert.equal(display.redraw(3_300), 2);
    assert.equal(display.redraw(3_500), 3);
    assert.equal(display.redraw(3_700), 3);
  });

  it("never shows less when the backend is a few milliseconds behind the page", () => {
    const display = new ElapsedDisplay(0);
    run(display, 0, 15_000);
    assert.equal(display.shown, 15);
    // The 15 s poll: the backend started 20 ms after the page, so it says 14.98 s.
    display.snap(14.98, 15_000);
    const shown = run(display, 15_000, 17_000);
    assert.ok(shown.every((s) => s >= 15), shown.join());
    assertNoJumps([15, ...shown]);
    assert.equal(shown.at(-1), 16); // 14.98 + 2 s: one more second, a little later
  });

  it("holds rather than going back when the backend is well behind, then goes on", () => {
    const display = new ElapsedDisplay(0);
    run(display, 0, 30_000);
    display.snap(28.2, 30_000);
    const shown = run(display, 30_000, 34_000);
    assert.equal(Math.min(...shown), 30);
    assertNoJumps([30, ...shown]);
    assert.equal(shown.at(-1), 32);
  });

  it("takes a small forward snap one second per redraw", () => {
    const display = new ElapsedDisplay(0);
    run(display, 0, 14_800);
    assert.equal(display.shown, 14);
    display.snap(17.5, 15_000); // the backend is 2.5 s ahead of the page
    const shown = run(display, 15_000, 16_000);
    assertNoJumps([14, ...shown]);
    assert.equal(shown.at(-1), 18);
  });

  it("jumps straight to a resumed session's time", () => {
    const display = new ElapsedDisplay(0);
    display.redraw(50);
    display.snap(125.4, 60);
    assert.ok(125 - 0 > CATCH_UP_LIMIT_S);
    assert.equal(display.redraw(200), 125);
  });

  it("tells when the next second falls due, on the backend's clock once snapped", () => {
    const display = new ElapsedDisplay(0);
    assert.equal(display.msToNextSecond(250), 750);
    display.snap(14.98, 15_000); // the backend is 20 ms behind: its 15th second is 20 ms away
    assert.equal(display.msToNextSecond(15_000), 20);
    display.snap(59.5, 60_000, 0.5);
    assert.equal(display.msToNextSecond(60_500), Infinity); // frozen: no second will come
    display.settle(60);
    assert.equal(display.msToNextSecond(61_000), Infinity);
  });

  it("shows a resumed session's time at once, even when it is close", () => {
    const display = new ElapsedDisplay(0);
    display.redraw(50);
    display.resume(2.9, 60);
    assert.equal(display.redraw(200), 3);
    display.snap(5.5, 1_000); // later answers are drift again: one second per redraw
    assert.equal(display.redraw(1_200), 4);
  });

  it("freezes at the time the credits cover, to the millisecond", () => {
    const display = new ElapsedDisplay(0);
    display.snap(45.123, 45_000, 14.877); // exactly 60 s in all, a float sum of 59.999...
    const shown = run(display, 45_000, 70_000);
    assert.equal(shown.at(-1), 60);
    assert.equal(Math.max(...shown), 60);
    assert.ok(display.creditsExhausted(60_000));
    assert.ok(!display.creditsExhausted(59_800));
    assert.equal(display.remainingSeconds(50_000), 9.877);
  });

  it("goes on when the credits grow (a top-up moves the cap)", () => {
    const display = new ElapsedDisplay(0);
    display.snap(10, 10_000, 50);
    run(display, 10_000, 61_400);
    assert.equal(display.shown, 60);
    display.snap(61.5, 61_500, 60); // topped up: the backend's time runs on from its start
    assert.ok(!display.creditsExhausted(61_600));
    assert.equal(display.redraw(61_600), 61);
    assert.equal(display.redraw(62_600), 62);
  });

  it("settles an ended session on its final time, ignoring noise below what was shown", () => {
    const noise = new ElapsedDisplay(0);
    run(noise, 0, 32_000);
    assert.equal(noise.settle(31.998), 32);

    const earlier = new ElapsedDisplay(0);
    run(earlier, 0, 30_000);
    assert.equal(earlier.settle(20.5), 20); // the advisor ended it 10 s ago: that is the truth

    const later = new ElapsedDisplay(0);
    run(later, 0, 30_000);
    assert.equal(later.settle(31.2), 31);
    assert.equal(later.redraw(40_000), 31); // stopped: no more ticking
  });

  it("shows nothing ran for a session that was never created", () => {
    const display = new ElapsedDisplay(0);
    run(display, 0, 3_000);
    display.abandon();
    assert.equal(display.redraw(9_000), 0);
  });

  it("never goes back or skips under jittery redraws and noisy polls (random scenarios)", () => {
    const random = prng(20240611);
    for (let scenario = 0; scenario < 200; scenario += 1) {
      const display = new ElapsedDisplay(0);
      // Polls every 15 s answered with the true time off by up to +-0.8 s.
      const events = [15_000, 30_000, 45_000, 60_000].map((at) => ({
        at,
        apply: (d, t) => d.snap(t / 1000 + (random() - 0.5) * 1.6, t),
      }));
      const shown = run(display, 0, 70_000, { jitter: () => random() * 700, events });
      assertNoJumps(shown);
      assert.ok(shown.at(-1) >= 67, `scenario ${scenario} fell behind: ${shown.at(-1)}`);
    }
  });
});
