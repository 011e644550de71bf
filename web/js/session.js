// One chat session as the page lives it: created at load, polled every 15 s, ended by #end,
// by the advisor, by the credits or by the backend for want of activity; failures said and
// retried without losing the session or restarting the timer; a reload resumes the same
// session. No DOM and no real timers: the API, the monotonic clock, the scheduler and the
// storage are handed in, so node can run a whole session in virtual time.
import { ElapsedDisplay } from "./display.js";
import { duration } from "./format.js";

export const POLL_INTERVAL_MS = 15_000;
// The warning shows while the credits last less than this.
export const LOW_BALANCE_S = 120;
// Retry delays after consecutive transient failures (the last one repeats); a Retry-After
// from the service wins.
export const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15_000];

// Keyed by the view's end_reason; a function reads what else it needs from the view.
const ENDED_BECAUSE = {
  user: "You ended the session.",
  advisor: "Your advisor ended the session.",
  credits_exhausted: "Your credits ran out, so the session has ended.",
  // The backend ends a session its user's page has not polled for idle_timeout_seconds.
  idle: (view) => `The session has ended: no activity for ${duration(view.idle_timeout_seconds) || "too long"}.`,
};

// What the page says about an ended session's view.
export function endedBecause(view) {
  const reason = Object.hasOwn(ENDED_BECAUSE, view.end_reason) ? ENDED_BECAUSE[view.end_reason] : null;
  if (typeof reason === "function") return reason(view);
  return reason || "The session has ended.";
}

// Keyed by the API's error codes (chalicelib/domain/errors.py); web/test checks they exist.
export const REFUSED_BECAUSE = {
  insufficient_credit: "Your balance is below one minute at this advisor's rate.",
  advisor_not_found: "This advisor does not exist.",
  advisor_unavailable: "This advisor cannot be booked right now.",
};

// Where a tab keeps its session id, per user and advisor: a reload sends the same id again,
// which the API answers with the same session (its idempotency key).
export function storageKey(user, advisor) {
  return `chat-session:${user || ""}:${advisor}`;
}

function safeStorage(storage) {
  // Storage can throw (quota, privacy modes): the page then works without resuming.
  const guard = (fn, fallback) => {
    try {
      return fn();
    } catch {
      return fallback;
    }
  };
  return {
    get: (key) => guard(() => storage.getItem(key), null),
    set: (key, value) => guard(() => storage.setItem(key, value)),
    remove: (key) => guard(() => storage.removeItem(key)),
  };
}

export class ChatSession {
  constructor({ api, now, schedule, storage, user, advisor, newSessionId }) {
    this.api = api;
    this.now = now;
    this.schedule = schedule;
    this.storage = safeStorage(storage);
    this.key = storageKey(user, advisor);
    this.advisor = advisor;
    this.startMono = now(); // the timer starts when the page loads, before any answer
    this.display = new ElapsedDisplay(this.startMono);
    const stored = this.storage.get(this.key);
    this.resumed = Boolean(stored);
    // Kept before the first request: a reload while the create is in flight repeats the id.
    this.sessionId = stored || newSessionId();
    this.storage.set(this.key, this.sessionId);
    this.phase = "starting"; // starting | active | ending | ended | refused | lost
    this.view = null;
    this.endReason = null;
    this.failures = 0;
    this.adopted = false;
    this.cancelPending = null;
    this.notice = { kind: "info", text: this.resumed ? "Resuming your session…" : "Connecting to your advisor…" };
  }

  // --- what the page calls -------------------------------------------------------------

  begin() {
    this._send(() => this.api.start(this.advisor, this.sessionId), (outcome) => this._started(outcome));
  }

  end() {
    if (!this.canEnd()) return;
    this.phase = "ending";
    this.notice = { kind: "info", text: "Ending the session…" };
    this._cancelPending();
    this._sendEnd();
  }

  // The user wants a new session after this one: the next load creates a fresh one.
  forget() {
    this.storage.remove(this.key);
  }

  canEnd() {
    return this.phase === "active";
  }

  // Called on every redraw: everything the page shows, as of `now`.
  tick(now = this.now()) {
    const seconds = this.display.redraw(now);
    const live = this.phase === "active" || this.phase === "ending";
    const exhausted = live && this.display.creditsExhausted(now);
    const stopped = exhausted || ["ended", "refused", "lost"].includes(this.phase);
    const remaining = live ? this.display.remainingSeconds(now) : null;
    const view = this.view || {};
    return {
      seconds,
      nextSecondInMs: this.display.msToNextSecond(now),
      state: stopped ? "stopped" : "running",
      phase: this.phase,
      sessionId: this.sessionId,
      advisorId: view.advisor_id || this.advisor,
      ratePerMinute: view.rate_per_minute ?? null,
      charged: view.charged ?? null,
      billedMinutes: view.billed_minutes ?? null,
      balance: view.balance ?? null,
      remainingSeconds: remaining,
      lowBalance: !stopped && remaining != null && remaining <= LOW_BALANCE_S,
      endReason: this.endReason || (exhausted ? "credits_exhausted" : null),
      notice: exhausted && this.notice?.kind !== "error"
        ? { kind: "warn", text: "Your credits have run out: the timer stopped." }
        : this.notice,
      canEnd: this.canEnd(),
      canRestart: ["ended", "refused", "lost"].includes(this.phase),
    };
  }

  // --- answers ---------------------------------------------------------------------------

  _started(outcome) {
    if (outcome.ok) {
      if (outcome.body.advisor_id !== this.advisor) {
        // Only reachable through adoption: the user's active session is with someone else.
        return this._refuse(`You already have an active session with ${outcome.body.advisor_id}.`);
      }
      return this._apply(outcome);
    }
    if (outcome.transient) return this._retry("Could not start the session yet", () => this.begin(), outcome);
    const active = outcome.body && outcome.body.active_session_id;
    if (outcome.code === "active_session_exists" && active && !this.adopted) {
      // Another tab (or a lost reload) holds the user's active session: show that one.
      this.adopted = true;
      this.sessionId = active;
      this.storage.set(this.key, active);
      return this.begin();
    }
    this.forget(); // the id was never used: the next load tries afresh
    return this._refuse(REFUSED_BECAUSE[outcome.code] || outcome.message);
  }

  _polled(outcome) {
    if (outcome.ok) return this._apply(outcome);
    if (this.phase !== "active") return undefined; // an end is under way and owns what follows
    if (outcome.transient) {
      return this._retry("Lost contact with the chat service", () => this._poll(), outcome, "; your session goes on");
    }
    return this._lose(outcome);
  }

  _ended(outcome) {
    if (outcome.ok) return this._apply(outcome);
    if (outcome.transient) return this._retry("Could not end the session yet", () => this._sendEnd(), outcome);
    return this._lose(outcome);
  }

  _apply({ body, receivedMono }) {
    if (["ended", "refused", "lost"].includes(this.phase)) return; // a late answer changes nothing
    this.view = body;
    this.failures = 0;
    if (body.status === "ended") {
      this.phase = "ended";
      this.endReason = body.end_reason;
      this.display.settle(body.elapsed_seconds);
      this.notice = { kind: body.end_reason === "user" ? "info" : "warn", text: endedBecause(body) };
      this._cancelPending();
      return;
    }
    // Anchored at the answer's arrival, not the request's midpoint: a request's start may
    // include the config fetch and a CORS preflight, which would put a midpoint too early
    // and the display behind by them until the next poll. On arrival the page trails the
    // backend by the answer's trip only (about a millisecond locally), and never leads it.
    const taken = this.phase === "starting" && (this.resumed || this.adopted) ? "resume" : "snap";
    this.display[taken](body.elapsed_seconds, receivedMono, body.seconds_remaining);
    if (this.phase === "starting") this.phase = "active";
    if (this.phase === "active") {
      this.notice = null;
      this._schedulePoll();
    }
  }

  _refuse(text) {
    this.phase = "refused";
    this.display.abandon();
    this.notice = { kind: "error", text };
    this._cancelPending();
  }

  _lose(outcome) {
    this.phase = "lost";
    this.display.settle(this.display.shown);
    this.notice = { kind: "error", text: `This session is no longer available: ${outcome.message}.` };
    this._cancelPending();
  }

  // --- requests and timers -------------------------------------------------------------

  async _send(request, onOutcome) {
    const outcome = await request();
    onOutcome({ ...outcome, receivedMono: this.now() });
  }

  _poll() {
    this._send(() => this.api.poll(this.sessionId), (outcome) => this._polled(outcome));
  }

  _sendEnd() {
    this._send(() => this.api.end(this.sessionId), (outcome) => this._ended(outcome));
  }

  // Polls keep to a 15 s grid from page load (15 s, 30 s, ...), also after a retry; a slot
  // less than half an interval away is skipped so a late success does not poll twice.
  _schedulePoll() {
    const now = this.now();
    const since = now + POLL_INTERVAL_MS / 2 - this.startMono;
    const slot = this.startMono + Math.ceil(since / POLL_INTERVAL_MS) * POLL_INTERVAL_MS;
    this._later(() => this._poll(), slot - now);
  }

  _retry(headline, again, outcome, tail = "") {
    this.failures += 1;
    const delay = outcome.retryAfterMs ?? RETRY_DELAYS_MS[Math.min(this.failures, RETRY_DELAYS_MS.length) - 1];
    this.notice = {
      kind: "error",
      text: `${headline} (${outcome.message}). Retrying in ${Math.ceil(delay / 1000)} s${tail}.`,
    };
    this._later(again, delay);
  }

  _later(fn, delayMs) {
    this._cancelPending();
    this.cancelPending = this.schedule(() => {
      this.cancelPending = null;
      fn();
    }, Math.max(0, delayMs));
  }

  _cancelPending() {
    if (this.cancelPending) this.cancelPending();
    this.cancelPending = null;
  }
}
