"""The API's log lines carry the invocation's Lambda context and correlation id and nothing of
the invocation before (chalicelib/observability.py: lambda_context_middleware), exactly as
ConvertToMiddleware(logger.inject_lambda_context(...)) wrote them before it replaced that."""

import itertools
import json

import pytest
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.jmespath_utils import query
from chalice import ConvertToMiddleware
from chalice.test import Client

from app import app
from chalicelib.observability import _field, _plain_path, logger

# Per invocation or per session, never the same twice.
VARYING = ("timestamp", "correlation_id", "function_request_id", "xray_trace_id", "cold_start")
VARYING_FIELDS = ("session_id", "user_id", "started_at", "start_lag_ms")


@pytest.fixture
def client(dynamo, clock, monkeypatch):
    """Chalice's test client, its events given a requestId as API Gateway's have (req-1, ...)."""
    with Client(app, stage_name="local") as test_client:
        gateway = test_client.http._local_gateway
        original = gateway._generate_lambda_event
        numbers = itertools.count(1)

        def with_request_id(*args, **kwargs):
            event = original(*args, **kwargs)
            event["requestContext"]["requestId"] = f"req-{next(numbers)}"
            return event

        monkeypatch.setattr(gateway, "_generate_lambda_event", with_request_id)
        yield test_client


@pytest.fixture
def powertools_wiring(monkeypatch):
    """The API's logging middleware as app.py registered it before: ConvertToMiddleware."""

    def use():
        handlers = list(app.middleware_handlers)
        [index] = [
            i
            for i, (func, kind) in enumerate(handlers)
            if kind == "http" and "lambda_context_middleware" in getattr(func, "__qualname__", "")
        ]
        handlers[index] = (
            ConvertToMiddleware(
                logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
            ),
            "http",
        )
        monkeypatch.setattr(app, "middleware_handlers", handlers)

    return use


def _start(client, user, advisor):
    reply = client.http.post(
        "/sessions",
        headers={"X-User-Id": user, "Content-Type": "application/json"},
        body=json.dumps({"advisor_id": advisor}),
    )
    assert reply.status_code == 201, reply.body


def _timer_lines(logs):
    lines = [json.loads(line) for line in logs.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "timer_started"]


def test_the_timer_line_is_the_one_inject_lambda_context_wrote(client, demo, logs, powertools_wiring):
    logs.readouterr()
    _start(client, demo["user"], demo["advisor"])
    [ours] = _timer_lines(logs)
    powertools_wiring()
    _start(client, demo["other"], demo["advisor"])
    [theirs] = _timer_lines(logs)

    assert (ours["correlation_id"], theirs["correlation_id"]) == ("req-1", "req-2")
    assert isinstance(ours["cold_start"], bool) and isinstance(theirs["cold_start"], bool)
    assert ours["function_request_id"] and theirs["function_request_id"]
    assert ours["function_request_id"] != theirs["function_request_id"]
    for line in (ours, theirs):
        for key in (*VARYING, *VARYING_FIELDS):
            line.pop(key, None)
    assert ours == theirs


def test_keys_of_the_invocation_before_are_not_carried_over(client, demo, logs):
    logger.append_keys(left_over="from before")
    logs.readouterr()
    _start(client, demo["user"], demo["advisor"])
    [line] = _timer_lines(logs)
    assert "left_over" not in line and line["correlation_id"] == "req-1"


def test_logging_each_event_keeps_powertools_own_lookup(client, demo, logs, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    logs.readouterr()
    _start(client, demo["user"], demo["advisor"])
    lines = [json.loads(line) for line in logs.readouterr().out.splitlines() if line.startswith("{")]
    [event_line] = [
        line for line in lines if isinstance(line.get("message"), dict) and "requestContext" in line["message"]
    ]
    assert event_line["correlation_id"] == "req-1"
    [timer] = [line for line in lines if line.get("event") == "timer_started"]
    assert timer["correlation_id"] == "req-1"


@pytest.mark.parametrize(
    "data",
    [
        {"requestContext": {"requestId": "r-1"}},
        {"requestContext": {}},
        {"requestContext": None},
        {"requestContext": "not an object"},
        {"requestContext": {"requestId": {"nested": 1}}},
        {},
        {"id": "e-1"},
        "a string event",
        None,
    ],
)
@pytest.mark.parametrize("path", [correlation_paths.API_GATEWAY_REST, correlation_paths.EVENT_BRIDGE])
def test_a_plain_path_finds_what_jmespath_finds(path, data):
    assert _plain_path(path) is not None
    assert _field(data, _plain_path(path)) == query(data=data, envelope=path)


def test_a_path_that_is_not_plain_names_is_left_to_jmespath():
    assert _plain_path("Records[0].messageId") is None
    assert _plain_path("powertools_json(body).id") is None
    assert _plain_path(None) is None and _plain_path("") is None
