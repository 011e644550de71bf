// Test doubles for the session logic: virtual monotonic time with a scheduler, a storage, and
// a backend that computes session views the way the API does (elapsed from its own start,
// capped by the credits, ended when its user is not seen for `idleS`), with failures injected
// per call.

export class VirtualTime {
  constructor(start = 10_000) {
    this.t = start;
    this.timers = new Set();
  }

  now = () => this.t;

  schedule = (fn, ms) => {
    const timer = { at: this.t + ms, fn };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  };

  // Runs every timer due up to `t + ms` in order, letting answered requests settle between.
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = [...this.timers].filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers.delete(due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await settle();
  }
}

// Lets pending promise callbacks (the fake API's answers) run.
export async function settle() {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

export class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

const ok = (status, body) => ({ ok: true, status, body });

export function failure(status, code, message, extra = {}) {
  return { ok: false, transient: status === 0 || status === 429 || status >= 500, status, code, message, retryAfterMs: null, body: { error: code, message }, ...extra };
}

export const NETWORK_DOWN = failure(0, "network", "the service cannot be reached");

// One user and one advisor. `lagMs`: how far the backend's clock for this session runs behind
// the page (it starts the timer when it handles the create request, after the page loaded).
// `idleS`: SESSION_IDLE_SECONDS. As the API does, the user is seen at the start and at their
// polls (recorded at most once per quarter of the limit), and a session not seen for `idleS`
// is ended by the next request that reads it, at last seen + `idleS` (or at the credits'
// end, if that came first).
export class FakeBackend {
  constructor(time, { balance = 10_000, rate = 199, advisor = "demo-advisor", lagMs = 15, idleS = 120 } = {}) {
    Object.assign(this, { time, balance, rate, advisor, lagMs, idleS });
    this.sessions = new Map();
    this.calls = [];
    this.failures = [];
    this.latencyMs = { start: 0, poll: 0, end: 0 };
    this.requestLegMs = { start: 0, poll: 0, end: 0 };
  }

  // The next call of `op` ("start" | "poll" | "end") answers `outcome` instead.
  failNext(op, outcome) {
    this.failures.push({ op, outcome });
  }

  _injected(op) {
    const index = this.failures.findIndex((f) => f.op === op);
    return index < 0 ? null : this.failures.splice(index, 1)[0].outcome;
  }

  endAs(sessionId, reason) {
    const session = this.sessions.get(sessionId);
    Object.assign(session, { status: "ended", endedAt: Math.min(this.time.now(), this._capAt(session)), endReason: reason });
  }

  _capAt(session) {
    return session.startedAt + Math.floor(this.balance / session.rate) * 60_000;
  }

  // Ends the session if its user was last seen `idleS` or more ago; true if it is idle now.
  _expireIfIdle(session) {
    const idleAt = session.lastSeen + this.idleS * 1000;
    if (session.status !== "active" || this.time.now() < idleAt) return false;
    const capAt = this._capAt(session);
    Object.assign(session, { status: "ended", endedAt: Math.min(idleAt, capAt), endReason: capAt <= idleAt ? "credits_exhausted" : "idle" });
    return true;
  }

  // A poll by the user: seen now, unless already seen within a quarter of the limit.
  _seen(session) {
    if (session.status === "active" && this.time.now() - session.lastSeen >= Math.floor((this.idleS * 1000) / 4)) {
      session.lastSeen = this.time.now();
    }
  }

  view(session) {
    const now = this.time.now();
    const until = session.status === "ended" ? session.endedAt : Math.min(now, this._capAt(session));
    const elapsed = Math.max(0, until - session.startedAt);
    const active = session.status === "active";
    const remaining = active ? (this._capAt(session) - session.startedAt - elapsed) / 1000 : null;
    return {
      session_id: session.id,
      advisor_id: session.advisor,
      status: session.status,
      end_reason: session.endReason,
      elapsed_seconds: elapsed / 1000,
      rate_per_minute: session.rate,
      billed_minutes: Math.ceil(elapsed / 60_000),
      charged: 0,
      balance: this.balance,
      seconds_remaining: remaining,
      idle_timeout_seconds: this.idleS,
      timer: { state: active && remaining > 0 ? "running" : "stopped", initialized: "at_creation" },
    };
  }

  api() {
    // A request reaches the backend `requestLegMs[op]` after it is sent (a CORS preflight
    // goes first, say); the answer is computed then and arrives `latencyMs[op]` later.
    const answer = (op, args, compute) => {
      this.calls.push({ op, args, at: this.time.now() });
      const delayed = (ms, fn) => (ms ? new Promise((resolve) => this.time.schedule(() => resolve(fn()), ms)) : Promise.resolve(fn()));
      return delayed(this.requestLegMs[op], () => this._injected(op) || compute()).then((outcome) =>
        delayed(this.latencyMs[op], () => outcome),
      );
    };
    return {
      start: (advisorId, sessionId) =>
        answer("start", [advisorId, sessionId], () => {
          const existing = this.sessions.get(sessionId);
          if (existing) {
            // A repeated start is answered as the user's poll is.
            if (!this._expireIfIdle(existing)) this._seen(existing);
            return ok(200, this.view(existing));
          }
          if (advisorId !== this.advisor) return failure(404, "advisor_not_found", "no such advisor");
          if (this.balance < this.rate) return failure(402, "insufficient_credit", "the balance does not cover one minute at the advisor's rate");
          const active = [...this.sessions.values()].find((s) => s.status === "active" && !this._expireIfIdle(s));
          if (active) {
            return failure(409, "active_session_exists", "another session is active", {
              body: { error: "active_session_exists", message: "another session is active", active_session_id: active.id },
            });
          }
          // The request reaches the backend `lagMs` after the page started its timer.
          const startedAt = this.time.now() + this.lagMs;
          const session = { id: sessionId, advisor: advisorId, rate: this.rate, status: "active", startedAt, endedAt: null, endReason: null, lastSeen: startedAt };
          this.sessions.set(sessionId, session);
          return ok(201, this.view(session));
        }),
      poll: (sessionId) =>
        answer("poll", [sessionId], () => {
          const session = this.sessions.get(sessionId);
          if (!session) return failure(404, "session_not_found", "no such session");
          if (!this._expireIfIdle(session)) this._seen(session);
          return ok(200, this.view(session));
        }),
      end: (sessionId) =>
        answer("end", [sessionId], () => {
          const session = this.sessions.get(sessionId);
          if (!session) return failure(404, "session_not_found", "no such session");
          if (session.status === "active" && !this._expireIfIdle(session)) {
            const capped = this.time.now() > this._capAt(session);
            this.endAs(sessionId, capped ? "credits_exhausted" : "user");
          }
          return ok(200, this.view(session));
        }),
    };
  }

  callsOf(op) {
    return this.calls.filter((call) => call.op === op);
  }
}
