"""Where a request's time goes: starts and polls through the app, profiled with pyinstrument,
and each sample charged to a layer (the DynamoDB call, PynamoDB, Chalice, logging, our
middleware, our code, JSON, settings, the local API server, the rest).

Two paths, each against in-process moto:
- in process: Chalice's test client (as bench/handler_overhead.py), one start per user, then
  polls of one session;
- over HTTP: the local stage's API server (chalicelib/local/api_server.py, in this process,
  harness.local_stage.serving_api), profiled in its request threads from the connection's
  arrival to its close.

A sample is charged to the layer of its innermost frame that belongs to one. The standard
library and packages with no layer of their own count for their caller: the logging module
for Powertools, werkzeug for moto, json inside botocore for the DynamoDB call. JSON is its own
layer only when Chalice, the server or our code calls it (our bodies and views).

The fractions are of the profiled requests' time; the profiler slows deep call stacks (moto's)
more than shallow ones, so the `ms` column spreads the unprofiled median by those fractions,
an estimate. bench/handler_overhead.py gives the unprofiled overhead itself.
"""

import contextlib
import http.client
import json
import os
import socket
import threading
import time
import uuid
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from bench.common import median, table

# (key, what it covers), in the order the tables show them.
LAYERS: Tuple[Tuple[str, str], ...] = (
    ("dynamodb_client", "DynamoDB call: botocore and urllib3 (serialise, sign, send, parse)"),
    ("dynamodb_backend", "DynamoDB itself: moto in process (DynamoDB's own time when deployed)"),
    ("pynamodb", "PynamoDB: items, expressions and transactions (de)serialised"),
    ("chalice", "Chalice: the event, routing, middleware chain, the response"),
    ("logging", "logging: Powertools (inject_lambda_context, log lines), observability.py"),
    ("middleware", "our middleware: the deadline, error bodies reshaped"),
    ("ours", "our code: api, services, domain, store"),
    ("json", "JSON: request bodies and views (json called by Chalice, the server or us)"),
    ("settings", "settings: chalicelib/settings.py"),
    ("server", "the local API server: http.server, socketserver, api_server.py (HTTP only)"),
    ("other", "other: the client driving the requests, the profiler, the rest"),
)
LAYER_KEYS = tuple(key for key, _ in LAYERS)
# The DynamoDB call as the issue counts it: what a bare read costs too.
DYNAMODB_LAYERS = ("dynamodb_client", "dynamodb_backend")
# What is ours to cut (the rest is the framework's, botocore's or the backend's).
OUR_LAYERS = ("middleware", "ours", "settings")

_SITE = f"{os.sep}site-packages{os.sep}"
_PACKAGES = {
    "moto": "dynamodb_backend",
    "botocore": "dynamodb_client",
    "boto3": "dynamodb_client",
    "urllib3": "dynamodb_client",
    "pynamodb": "pynamodb",
    "chalice": "chalice",
    "aws_lambda_powertools": "logging",
}
# Our files (relative to the project) that are not "our code".
_OUR_FILES = {
    "chalicelib/settings.py": "settings",
    "chalicelib/observability.py": "logging",
    "chalicelib/api/invocation.py": "middleware",
    "chalicelib/local/api_server.py": "server",
    "chalicelib/local/host_check.py": "server",
}
# Our functions that are middleware, wherever they live.
_MIDDLEWARE_FUNCTIONS = {
    ("app.py", "project_error_bodies"),
    ("chalicelib/api/errors.py", "reshape_framework_error"),
    ("chalicelib/api/errors.py", "_snake"),
    ("chalicelib/store/failures.py", "deadline"),
}
_STDLIB_SERVER = ("http/server.py", "socketserver.py")
# Callers whose json work counts as JSON (botocore's parsing is the DynamoDB call's).
_JSON_CALLERS = ("chalice", "ours", "middleware", "server")

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _frame_parts(frame_info: str) -> Tuple[str, str]:
    """(function, file path) of a pyinstrument frame identifier."""
    identifier = frame_info.split("\x01", 1)[0]
    function, path, *_ = identifier.split("\x00") + ["", ""]
    return function, path


def frame_layer(function: str, path: str) -> Optional[str]:
    """The layer a frame belongs to, "json" for the json module, or None (it counts for its caller)."""
    if _SITE in path:
        package = path.split(_SITE, 1)[1].split(os.sep, 1)[0]
        return _PACKAGES.get(package)
    if path.startswith(PROJECT + os.sep):
        relative = os.path.relpath(path, PROJECT).replace(os.sep, "/")
        if (relative, function) in _MIDDLEWARE_FUNCTIONS:
            return "middleware"
        if relative in _OUR_FILES:
            return _OUR_FILES[relative]
        if relative == "app.py" or relative.startswith("chalicelib/"):
            return "ours"
        return "other"  # bench/, harness/: the driver
    normal = path.replace(os.sep, "/")
    if "/json/" in normal:
        return "json"
    if normal.endswith(_STDLIB_SERVER):
        return "server"
    if "pyinstrument" in normal:
        return "other"
    return None


def _short_path(path: str) -> str:
    """A frame's file as the table shows it: under the project, site-packages or the stdlib."""
    if _SITE in path:
        return path.split(_SITE, 1)[1]
    if path.startswith(PROJECT + os.sep):
        return os.path.relpath(path, PROJECT)
    stdlib = os.path.dirname(os.__file__) + os.sep
    return path[len(stdlib) :] if path.startswith(stdlib) else path


def sample_layer(stack: Sequence[str], cache: Dict[str, Optional[str]]) -> Tuple[str, Optional[str]]:
    """(layer, the deciding frame) of one sample, its stack outermost first."""
    saw_json = False
    for frame_info in reversed(stack):
        layer = cache.get(frame_info, "?")
        if layer == "?":
            layer = cache[frame_info] = frame_layer(*_frame_parts(frame_info))
        if layer == "json":
            saw_json = True
        elif layer is not None:
            return ("json" if saw_json and layer in _JSON_CALLERS else layer), frame_info
    return "other", None


def breakdown(frame_records: Sequence[Tuple[List[str], float]]) -> Tuple[Dict[str, float], Counter, float]:
    """Seconds per layer, seconds per deciding frame of our layers, and the total."""
    seconds: Dict[str, float] = dict.fromkeys(LAYER_KEYS, 0.0)
    hot: Counter = Counter()
    cache: Dict[str, Optional[str]] = {}
    for stack, spent in frame_records:
        layer, frame = sample_layer(stack, cache)
        seconds[layer] += spent
        if layer in (*OUR_LAYERS, "logging", "json", "server") and frame is not None:
            function, path = _frame_parts(frame)
            hot[f"{function} ({_short_path(path)})"] += spent
    return seconds, hot, sum(seconds.values())


def _figures(seconds: Dict[str, float], hot: Counter, total: float, requests: int, unprofiled_ms: float) -> dict:
    fractions = {key: (value / total if total else 0.0) for key, value in seconds.items()}
    return {
        "requests": requests,
        "unprofiled_ms": unprofiled_ms,
        "profiled_ms": total * 1000 / requests,
        "fractions": fractions,
        "dynamodb_fraction": sum(fractions[k] for k in DYNAMODB_LAYERS),
        "ours_fraction": sum(fractions[k] for k in OUR_LAYERS),
        "hot": [[name, spent / total if total else 0.0] for name, spent in hot.most_common(8)],
    }


# ---- driving the requests -------------------------------------------------------------------


ADVISOR = "bench-advisor"


class _InProcess:
    """Chalice's test client: the app as Lambda runs it, minus API Gateway."""

    def __init__(self, client):
        self._client = client

    def start(self, user: str) -> str:
        reply = self._client.http.post("/sessions", headers=_headers(user), body=json.dumps({"advisor_id": ADVISOR}))
        assert reply.status_code == 201, reply.body
        return json.loads(reply.body)["session_id"]

    def poll(self, user: str, session_id: str) -> None:
        reply = self._client.http.get(f"/sessions/{session_id}", headers=_headers(user))
        assert reply.status_code == 200, reply.body


class _OverHttp:
    """The local stage's API server: a fresh connection per request, the whole request sent in
    one write (as a browser sends a small fetch), so that the server's time is its own work and
    not a wait for the client's next packet."""

    def __init__(self, base: str):
        host, port = base.rsplit("//", 1)[1].split(":")
        self._address = (host, int(port))

    def _call(self, method: str, path: str, user: str, body: bytes = b"") -> Tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self._address[0]}:{self._address[1]}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in _headers(user).items()]
        head.append(f"Content-Length: {len(body)}")
        with socket.create_connection(self._address, timeout=10) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            reply = http.client.HTTPResponse(sock)
            reply.begin()
            return reply.status, reply.read()

    def start(self, user: str) -> str:
        status, body = self._call("POST", "/sessions", user, json.dumps({"advisor_id": ADVISOR}).encode())
        assert status == 201, body
        return json.loads(body)["session_id"]

    def poll(self, user: str, session_id: str) -> None:
        status, body = self._call("GET", f"/sessions/{session_id}", user)
        assert status == 200, body


def _headers(user: str) -> Dict[str, str]:
    return {"X-User-Id": user, "Content-Type": "application/json"}


class _Starts:
    """A start per request, each by a user made for it, whose items are deleted after it (not
    timed): moto copies the tables a transaction touches, so starts would slow down as the
    tables fill, which DynamoDB's do not."""

    def __init__(self, run_id: str):
        self._run_id = run_id
        self._count = 0

    def before(self) -> str:
        from harness.dynamo import add_user

        self._count += 1
        user = f"{self._run_id}-s{self._count}"
        add_user(user, 1_000_000)
        return user

    def after(self, user: str, session_id: str) -> None:
        from chalicelib.store.models import AccountItem, SessionItem

        SessionItem(session_id).delete()
        AccountItem(user).delete()


class _ThreadProfiles:
    """The API server's request threads, timed from the handler's construction (where the
    server builds its gateway) to the connection's close; with `profiling`, each under a
    pyinstrument profiler of its own (a profiler samples only the thread that started it)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.profiling = False
        self.records: List[Tuple[List[str], float]] = []
        self.durations: List[float] = []
        self._done = threading.Condition()

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        from pyinstrument import Profiler

        from chalicelib.local import api_server

        original = api_server._Handler.__init__
        profiles = self

        def timed_init(handler, *args, **kwargs):
            profiler = Profiler(interval=profiles.interval, async_mode="disabled") if profiles.profiling else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.start()
            try:
                original(handler, *args, **kwargs)
            finally:
                session = profiler.stop() if profiler is not None else None
                spent = time.perf_counter() - started
                with profiles._done:
                    if session is not None:
                        profiles.records += session.frame_records
                    profiles.durations.append(spent)
                    profiles._done.notify_all()

        api_server._Handler.__init__ = timed_init  # type: ignore[method-assign]
        try:
            yield
        finally:
            api_server._Handler.__init__ = original  # type: ignore[method-assign]

    def take(self, requests: int, timeout_s: float = 10) -> Tuple[List[Tuple[List[str], float]], List[float]]:
        """What the last `requests` connections recorded (a connection's thread finishes a
        little after its client has read the answer)."""
        with self._done:
            self._done.wait_for(lambda: len(self.durations) >= requests, timeout_s)
            taken = self.records, self.durations
            self.records, self.durations = [], []
        return taken


def _requests(client, op: str, n: int, starts: _Starts, poll_target: Tuple[str, str], each=None) -> None:
    """n starts or n polls, one at a time; `each(call)` wraps every request (the profiler)."""
    for _ in range(n):
        if op == "start":
            user = starts.before()
            session_id = each(lambda u=user: client.start(u)) if each else client.start(user)
            starts.after(user, session_id)
        elif each:
            each(lambda: client.poll(*poll_target))
        else:
            client.poll(*poll_target)


def _profile_in_process(client: _InProcess, starts: _Starts, n: int, interval: float) -> Dict[str, dict]:
    from pyinstrument import Profiler

    poll_target = (starts.before(), "")
    poll_target = (poll_target[0], client.start(poll_target[0]))
    for op in ("start", "poll"):
        _requests(client, op, 5, starts, poll_target)  # warm
    out = {}
    for op in ("start", "poll"):
        durations: List[float] = []

        def timed_call(call, durations=durations):
            started = time.perf_counter()
            result = call()
            durations.append(time.perf_counter() - started)
            return result

        _requests(client, op, n, starts, poll_target, each=timed_call)
        profiler = Profiler(interval=interval, async_mode="disabled")

        def profiled_call(call, profiler=profiler):
            profiler.start()
            try:
                return call()
            finally:
                profiler.stop()

        _requests(client, op, n, starts, poll_target, each=profiled_call)
        session = profiler.last_session
        records = session.frame_records if session is not None else []
        out[op] = _figures(*breakdown(records), n, median(durations) * 1000)
    return out


def _profile_over_http(client: _OverHttp, profiles: _ThreadProfiles, starts: _Starts, n: int) -> Dict[str, dict]:
    poll_target = (starts.before(), "")
    poll_target = (poll_target[0], client.start(poll_target[0]))
    for op in ("start", "poll"):
        _requests(client, op, 5, starts, poll_target)  # warm
    profiles.take(11)
    out = {}
    for op in ("start", "poll"):
        profiles.profiling = False
        _requests(client, op, n, starts, poll_target)
        unprofiled_ms = median(profiles.take(n)[1]) * 1000
        profiles.profiling = True
        _requests(client, op, n, starts, poll_target)
        records, _ = profiles.take(n)
        profiles.profiling = False
        out[op] = _figures(*breakdown(records), n, unprofiled_ms)
    return out


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _table(title: str, figures: Dict[str, Dict[str, dict]]) -> dict:
    """One row per layer, a column per (path, operation): a fraction of the request's time,
    and what that is of the unprofiled request (ms)."""
    columns = [(path, op) for path in figures for op in ("start", "poll")]
    header = ["layer"]
    for path, op in columns:
        header += [f"{op}, {path.replace('_', ' ')}", "ms"]
    rows: List[List[object]] = []
    for key, label in LAYERS:
        row: List[object] = [label]
        for path, op in columns:
            f = figures[path][op]
            row += [f["fractions"][key], f["fractions"][key] * f["unprofiled_ms"]]
        rows.append(row)
    total: List[object] = ["request (ms: the unprofiled median)"]
    for path, op in columns:
        total += [1.0, figures[path][op]["unprofiled_ms"]]
    rows.append(total)
    return {"title": title, "header": header, "rows": rows}


def _hot_table(figures: Dict[str, Dict[str, dict]]) -> dict:
    rows: List[List[object]] = []
    for path in figures:
        for op in ("start", "poll"):
            for name, fraction in figures[path][op]["hot"][:5]:
                rows.append([f"{op}, {path.replace('_', ' ')}", name, fraction])
    return {
        "title": "the hottest frames of ours, logging, JSON and the server (the frame each sample was charged to)",
        "header": ["request", "frame", "fraction"],
        "rows": rows,
    }


def run(quick: bool = False) -> dict:
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from harness.dynamo import add_advisor, fresh_tables
    from harness.local_stage import serving_api

    n = 20 if quick else 200
    interval = 0.0005
    starts = _Starts(uuid.uuid4().hex[:8])
    figures: Dict[str, Dict[str, dict]] = {}
    with mock_aws():
        fresh_tables()
        add_advisor(ADVISOR, 199)
        with Client(app, stage_name="local") as test_client:
            figures["in_process"] = _profile_in_process(_InProcess(test_client), starts, n, interval)
        profiles = _ThreadProfiles(interval)
        # The server reads the stage from the environment (`make run` sets it; Chalice's test
        # client sets it only during its own calls).
        with _environment(STAGE="local"), profiles.patched(), serving_api(app) as base:
            figures["over_http"] = _profile_over_http(_OverHttp(base), profiles, starts, n)
    result: dict = {
        "requests": n,
        "interval_ms": interval * 1000,
        **figures,
        "tables": [
            _table(
                f"share of a request's time by layer, {n} starts and {n} polls per path, pyinstrument every "
                f"{interval * 1000:g} ms, in-process moto",
                figures,
            ),
            _hot_table(figures),
        ],
    }
    for t in result["tables"]:
        print(table(t["title"], t["header"], t["rows"]))
    return result


if __name__ == "__main__":
    run()
