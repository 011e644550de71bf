// The page's DOM: wires the session to the browser (fetch, timers, sessionStorage) and draws
// what it says. Every decision lives in session.js and display.js.
import { createApi } from "./api.js";
import { REDRAW_MS } from "./display.js";
import * as format from "./format.js";
import { ChatSession } from "./session.js";

// The local stage's demo data, so the bare URL of `make run` opens a working chat.
const params = new URLSearchParams(window.location.search);
const user = params.get("user") || "demo-user";
const advisor = params.get("advisor") || "demo-advisor";

async function loadBaseUrl(signal) {
  const response = await fetch("config.json", { cache: "no-store", signal });
  if (!response.ok) throw new Error(`config.json answered ${response.status}`);
  return (await response.json()).api_url.replace(/\/+$/, "");
}

function newSessionId() {
  if (crypto.randomUUID) return `page-${crypto.randomUUID()}`;
  // randomUUID needs a secure context; a page served over plain http from a LAN host is not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `page-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const session = new ChatSession({
  api: createApi({ fetch: window.fetch.bind(window), loadBaseUrl, user }),
  now: () => performance.now(),
  schedule: (fn, ms) => {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
  storage: window.sessionStorage,
  user,
  advisor,
  newSessionId,
});

const $ = (id) => document.getElementById(id);

// Writes only what changed: attribute observers (and screen readers) see real changes only.
function put(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}

function setData(element, name, value) {
  if (element.dataset[name] !== value) element.dataset[name] = value;
}

function showNotice(element, notice) {
  element.hidden = !notice;
  put(element, notice ? notice.text : "");
  if (!notice) return;
  const className = `notice notice--${notice.kind}`;
  if (element.className !== className) element.className = className;
}

// Redraws at least every REDRAW_MS (never skipping a second) and just after each second.
function redrawLoop() {
  const s = render();
  setTimeout(redrawLoop, Math.min(REDRAW_MS, s.nextSecondInMs + 2));
}

function render() {
  const s = session.tick(performance.now());
  const timer = $("timer");
  put(timer, format.clock(s.seconds));
  setData(timer, "elapsedSeconds", String(s.seconds));
  setData(timer, "state", s.state);
  setData($("session"), "sessionId", s.sessionId);
  put($("advisor"), s.advisorId);
  put($("rate"), format.rate(s.ratePerMinute));
  put($("charged"), s.charged == null ? "–" : `${format.credits(s.charged)} credits`);
  put($("billed"), s.billedMinutes ?? "–");
  put($("balance"), s.balance == null ? "–" : `${format.credits(s.balance)} credits`);
  put($("remaining"), s.remainingSeconds == null ? "–" : format.clock(s.remainingSeconds));
  showNotice($("notice"), s.notice);
  const low = $("low-balance");
  low.hidden = !s.lowBalance;
  if (s.lowBalance) put(low, `Low balance: your credits last ${format.clock(s.remainingSeconds)} more at this rate.`);
  $("end").disabled = !s.canEnd;
  $("new").hidden = !s.canRestart;
  return s;
}

$("end").addEventListener("click", () => {
  session.end();
  render();
});
$("new").addEventListener("click", () => {
  session.forget();
  window.location.reload();
});

session.begin();
redrawLoop();
