import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createApi, isTransient } from "../js/api.js";

// A fetch that records requests and answers from a script of Responses or errors.
function scriptedFetch(...answers) {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, ...init });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    return next;
  };
  return { fetch, requests };
}

const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

const api = (fetch, extra = {}) => createApi({ fetch, loadBaseUrl: async () => "http://localhost:9000", user: "demo-user", ...extra });

describe("api", () => {
  it("creates a session with the idempotency key and the local identity header", async () => {
    const { fetch, requests } = scriptedFetch(json(201, { session_id: "page-0001" }));
    const outcome = await api(fetch).start("demo-advisor", "page-0001");
    assert.deepEqual(outcome, { ok: true, status: 201, body: { session_id: "page-0001" } });
    assert.equal(requests[0].url, "http://localhost:9000/sessions");
    assert.equal(requests[0].method, "POST");
    assert.deepEqual(JSON.parse(requests[0].body), { advisor_id: "demo-advisor", session_id: "page-0001" });
    assert.equal(requests[0].headers["X-User-Id"], "demo-user");
    assert.equal(requests[0].headers["Content-Type"], "application/json");
  });

  it("polls and ends by path, escaping the id", async () => {
    const { fetch, requests } = scriptedFetch(json(200, {}), json(200, {}));
    await api(fetch).poll("a/b");
    await api(fetch).end("page-0001");
    assert.equal(requests[0].url, "http://localhost:9000/sessions/a%2Fb");
    assert.equal(requests[0].method, "GET");
    assert.equal(requests[0].body, undefined);
    assert.equal(requests[1].url, "http://localhost:9000/sessions/page-0001/end");
  });

  it("passes the API's own refusals on as final, with their code and message", async () => {
    const { fetch } = scriptedFetch(json(402, { error: "insufficient_credit", message: "the balance does not cover one minute" }));
    const outcome = await api(fetch).start("demo-advisor", "page-0001");
    assert.equal(outcome.ok, false);
    assert.equal(outcome.transient, false);
    assert.equal(outcome.code, "insufficient_credit");
    assert.equal(outcome.message, "the balance does not cover one minute");
  });

  it("marks 503 as worth retrying and reads Retry-After", async () => {
    const { fetch } = scriptedFetch(json(503, { error: "service_unavailable", message: "busy" }, { "Retry-After": "3" }));
    const outcome = await api(fetch).poll("page-0001");
    assert.equal(outcome.transient, true);
    assert.equal(outcome.retryAfterMs, 3000);
  });

  it("turns a non-JSON gateway error and a dropped connection into retryable outcomes", async () => {
    const { fetch } = scriptedFetch(new Response("<html>Bad gateway</html>", { status: 502 }), new TypeError("Failed to fetch"));
    const gateway = await api(fetch).poll("page-0001");
    assert.deepEqual([gateway.transient, gateway.code, gateway.retryAfterMs], [true, "http_502", null]);
    const dropped = await api(fetch).poll("page-0001");
    assert.deepEqual([dropped.transient, dropped.status, dropped.code], [true, 0, "network"]);
  });

  it("gives up on a request that hangs, as a retryable timeout", async () => {
    const hanging = (url, init) => new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
    const outcome = await api(hanging, { timeoutMs: 20 }).poll("page-0001");
    assert.deepEqual([outcome.transient, outcome.code], [true, "timeout"]);
  });

  it("asks for the API's address again after failing to get it", async () => {
    let asked = 0;
    const loadBaseUrl = async () => {
      asked += 1;
      if (asked === 1) throw new TypeError("Failed to fetch");
      return "http://localhost:9001";
    };
    const { fetch, requests } = scriptedFetch(json(200, {}), json(200, {}));
    const client = createApi({ fetch, loadBaseUrl });
    assert.equal((await client.poll("page-0001")).code, "network");
    await client.poll("page-0001");
    await client.poll("page-0001");
    assert.equal(asked, 2); // kept once known
    assert.equal(requests[0].url, "http://localhost:9001/sessions/page-0001");
    assert.equal(requests[0].headers["X-User-Id"], undefined);
  });

  it("retries exactly what a retry can fix", () => {
    assert.deepEqual([0, 408, 429, 500, 503, 504].map(isTransient), [true, true, true, true, true, true]);
    assert.deepEqual([400, 401, 402, 404, 409, 413, 415].map(isTransient), [false, false, false, false, false, false, false]);
  });
});
