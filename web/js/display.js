// The seconds the page shows: a monotonic local clock, re-anchored on the backend's elapsed
// time at every answer, drawn under two rules (docs/contract.md, "The reference chat page"):
//   never smaller: a running session never shows fewer seconds than it already showed, so a
//     backend a few milliseconds behind the page cannot make the display flicker one back;
//   never skip: the display is redrawn several times a second and moves at most one second
//     per redraw, so neither a late timer callback nor a small forward snap skips a second.
// No DOM, no timers: every method takes the monotonic time (ms) so node can test it.

// Redraw period of the page: well under a second, so a late callback cannot skip one.
export const REDRAW_MS = 200;

// A forward gap above this is not drift but a resumed session (reload, a tab woken up):
// stepping one second per redraw through it would show a wrong time for too long.
export const CATCH_UP_LIMIT_S = 3;

// Differences below this between the final elapsed time of an ended session and what was
// shown are clock noise between page and backend, not news: the display does not move back.
export const SETTLE_TOLERANCE_S = 1;

export class ElapsedDisplay {
  constructor(startMono) {
    this.anchorMono = startMono;
    this.anchorMs = 0;
    this.capMs = Infinity;
    this.shown = 0;
    this.running = true;
    this.jump = false;
  }

  // The backend said `elapsedSeconds` (and how long the credits last) as of `atMono`.
  snap(elapsedSeconds, atMono, secondsRemaining = null) {
    // The backend answers in whole ms; rounding keeps 45.123 + 14.877 at 60 s, not 59.999...
    this.anchorMono = atMono;
    this.anchorMs = Math.round(elapsedSeconds * 1000);
    this.capMs = secondsRemaining == null ? Infinity : Math.round((elapsedSeconds + secondsRemaining) * 1000);
  }

  // A session this page did not start (a reload, another tab): its time is news, not drift,
  // so the next redraw shows it at once instead of counting up to it.
  resume(elapsedSeconds, atMono, secondsRemaining = null) {
    this.snap(elapsedSeconds, atMono, secondsRemaining);
    this.jump = true;
  }

  // Elapsed ms the backend would report now: local time since the anchor, frozen at the cap
  // the credits allow, as the backend freezes it.
  targetMs(now) {
    return Math.min(this.anchorMs + Math.max(0, now - this.anchorMono), this.capMs);
  }

  creditsExhausted(now) {
    return this.capMs !== Infinity && this.targetMs(now) >= this.capMs;
  }

  // Seconds the credits still cover at `now`, or null when there is no cap.
  remainingSeconds(now) {
    return this.capMs === Infinity ? null : Math.max(0, (this.capMs - this.targetMs(now)) / 1000);
  }

  // When the next whole second falls due: the page redraws right after it, so a second shows
  // when it is reached, not up to one redraw period later.
  msToNextSecond(now) {
    const target = this.targetMs(now);
    return !this.running || target >= this.capMs ? Infinity : 1000 - (target % 1000);
  }

  // Called on every redraw; returns the whole seconds to show.
  redraw(now) {
    if (!this.running) return this.shown;
    const target = Math.floor(this.targetMs(now) / 1000);
    if (target > this.shown) {
      this.shown = this.jump || target - this.shown > CATCH_UP_LIMIT_S ? target : this.shown + 1;
    }
    this.jump = false;
    return this.shown;
  }

  // The session ended with `finalSeconds` on the backend: show that, unless it is only
  // noise below what was shown (then keep what was shown; it never moves back for noise).
  settle(finalSeconds) {
    this.running = false;
    const final = Math.floor(finalSeconds);
    this.shown = this.shown - finalSeconds < SETTLE_TOLERANCE_S ? Math.max(this.shown, final) : final;
    return this.shown;
  }

  // The session never existed (refused at start): nothing ran, nothing is billed.
  abandon() {
    this.running = false;
    this.shown = 0;
  }
}
