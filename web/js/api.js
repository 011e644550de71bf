// The session API as the page calls it: every call settles into an outcome, never throws, so
// the session logic decides between showing, retrying and giving up in one place.
//   {ok: true, status, body}
//   {ok: false, transient, status, code, message, retryAfterMs, body}
// `transient` failures (no connection, timeouts, 429, 5xx) are worth retrying; the others are
// answers (402, 404, 409, ...) that a retry would only repeat.

export const REQUEST_TIMEOUT_MS = 10_000;

export function isTransient(status) {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

function retryAfterMs(headers) {
  const value = headers && headers.get ? headers.get("Retry-After") : null;
  const seconds = Number(value);
  return value != null && value !== "" && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

function unreachable(error) {
  const timedOut = error && error.name === "AbortError";
  return {
    ok: false,
    transient: true,
    status: 0,
    code: timedOut ? "timeout" : "network",
    message: timedOut ? "the service did not answer in time" : "the service cannot be reached",
    retryAfterMs: null,
    body: null,
  };
}

async function outcomeOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null; // a proxy's HTML error page: the status still says what happened
  }
  if (response.ok) return { ok: true, status: response.status, body };
  return {
    ok: false,
    transient: isTransient(response.status),
    status: response.status,
    code: (body && body.error) || `http_${response.status}`,
    message: (body && body.message) || `the service answered ${response.status}`,
    retryAfterMs: retryAfterMs(response.headers),
    body,
  };
}

// `loadBaseUrl` resolves the API's URL (the local stage serves it as /config.json); it is
// asked again after a failure, so a page opened before the API was up still gets there.
export function createApi({ fetch, loadBaseUrl, user = null, timeoutMs = REQUEST_TIMEOUT_MS }) {
  let baseUrl = null;

  async function call(method, path, body) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      baseUrl = baseUrl || (await loadBaseUrl(controller.signal));
      const headers = {};
      if (user) headers["X-User-Id"] = user; // the local stage's identity; deployed: Cognito
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
        cache: "no-store",
      });
      return await outcomeOf(response);
    } catch (error) {
      return unreachable(error);
    } finally {
      clearTimeout(timer);
    }
  }

  const id = (sessionId) => encodeURIComponent(sessionId);
  return {
    start: (advisorId, sessionId) => call("POST", "/sessions", { advisor_id: advisorId, session_id: sessionId }),
    poll: (sessionId) => call("GET", `/sessions/${id(sessionId)}`),
    end: (sessionId) => call("POST", `/sessions/${id(sessionId)}/end`),
  };
}
