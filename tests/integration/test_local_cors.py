"""CORS of the local stage: the chat page reaches the API under every loopback name.

The servers bind 127.0.0.1 and the banner says localhost; a browser treats
http://localhost:8002, http://127.0.0.1:8002 and http://[::1]:8002 as three origins, and the
local stage used to allow only the first, so a page opened at 127.0.0.1 failed every call.
Here the local stage's own API server (chalicelib/local/api_server.py) runs in-process
against moto's server and is asked over real HTTP. Deployed stages keep one origin.
"""

import pytest

from app import app
from chalicelib.api.route_options import cors, local_allowed_origin, loopback_origins
from chalicelib.local.api_server import answer_origin
from harness.dynamo import add_advisor, add_user
from harness.http import call
from harness.local_stage import serving_api

WEB_PORT = 8002
PAGE_ORIGINS = ["http://localhost:8002", "http://127.0.0.1:8002", "http://[::1]:8002"]
FOREIGN_ORIGINS = [
    "http://evil.example",
    "http://127.0.0.1:9999",  # another port of this machine
    "https://localhost:8002",  # another scheme
    "http://localhost:8002.evil.example",
    "http://[::1]",
    "null",
]
CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-expose-headers",
    "access-control-allow-credentials",
    "access-control-max-age",
)


# ---- the rule -------------------------------------------------------------------------------


def test_the_loopback_origins_of_a_port_are_its_three_names():
    assert loopback_origins(8002) == tuple(PAGE_ORIGINS)
    assert loopback_origins(41234) == ("http://localhost:41234", "http://127.0.0.1:41234", "http://[::1]:41234")


@pytest.mark.parametrize("origin", PAGE_ORIGINS)
def test_every_loopback_origin_of_the_web_port_is_answered_with_itself(origin):
    assert local_allowed_origin(origin, "http://localhost:8002", 8002) == origin


@pytest.mark.parametrize("origin", [*FOREIGN_ORIGINS, "", None])
def test_no_other_origin_is_allowed(origin):
    assert local_allowed_origin(origin, "http://localhost:8002", 8002) is None


def test_the_origin_follows_the_web_port_and_the_configured_origin_stays_allowed():
    assert local_allowed_origin("http://[::1]:41234", "http://localhost:41234", 41234) == "http://[::1]:41234"
    assert local_allowed_origin("http://127.0.0.1:8002", "http://localhost:41234", 41234) is None
    assert local_allowed_origin("http://devbox.lan:3000", "http://devbox.lan:3000", 8002) == "http://devbox.lan:3000"
    assert local_allowed_origin("http://127.0.0.1:8002", "http://devbox.lan:3000", 8002) == "http://127.0.0.1:8002"


def _chalice_answer(**extra):
    headers = {
        "Content-Type": "application/json",
        "Access-Control-Allow-Origin": "http://localhost:8002",
        "Access-Control-Allow-Headers": "Content-Type,X-User-Id",
        **extra,
    }
    return {"statusCode": 200, "headers": headers, "multiValueHeaders": {}, "body": "{}"}


def test_an_existing_vary_is_kept_and_origin_added_once(monkeypatch):
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("WEB_PORT", "8002")
    answer = answer_origin(_chalice_answer(Vary="Accept-Encoding"), "http://127.0.0.1:8002")
    assert answer["headers"]["Vary"] == "Accept-Encoding, Origin"
    assert answer["headers"]["Access-Control-Allow-Origin"] == "http://127.0.0.1:8002"
    assert answer_origin(_chalice_answer(Vary="origin"), "http://127.0.0.1:8002")["headers"]["Vary"] == "origin"


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deployed_stages_keep_exactly_the_configured_origin(monkeypatch, stage):
    monkeypatch.setenv("STAGE", stage)
    monkeypatch.setenv("CORS_ORIGIN", "https://chat.example.com")
    config = cors()
    assert config.allow_origin == "https://chat.example.com"
    assert config.get_access_control_headers()["Access-Control-Allow-Origin"] == "https://chat.example.com"

    # Were the local server's rewrite ever reached outside the local stage, it changes nothing.
    def chalice_made():
        return _chalice_answer(**{"Access-Control-Allow-Origin": "https://chat.example.com"})

    for origin in ("http://127.0.0.1:8002", "http://evil.example", None):
        assert answer_origin(chalice_made(), origin) == chalice_made()


# ---- the local stage's API server over HTTP ---------------------------------------------------


@pytest.fixture
def local_api(moto_server, monkeypatch):
    """The local stage's API server (as `make run` builds it), on a free port of 127.0.0.1."""
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("WEB_PORT", str(WEB_PORT))
    monkeypatch.setenv("CORS_ORIGIN", f"http://localhost:{WEB_PORT}")
    with serving_api(app) as base:
        yield base


def _headers(reply):
    return {name.lower(): value for name, value in reply.headers.items()}


def _preflight(base, path, origin, method="POST"):
    return call(
        "OPTIONS",
        f"{base}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,x-user-id",
        },
    )


def _varies_by_origin(headers):
    return "origin" in [part.strip().lower() for part in headers.get("vary", "").split(",")]


def test_the_chat_page_under_any_loopback_name_passes_preflight_and_reads_the_answers(local_api):
    add_user("u-cors", 10_000)
    add_advisor("a-cors", 100)
    for origin in PAGE_ORIGINS:
        for path, method in (
            ("/sessions", "POST"),
            ("/health", "GET"),
            ("/sessions/page-0001", "GET"),
            ("/sessions/page-0001/end", "POST"),
        ):
            reply = _preflight(local_api, path, origin, method)
            headers = _headers(reply)
            assert reply.status == 200, (origin, path, reply)
            assert headers.get("access-control-allow-origin") == origin, (origin, path, headers)
            assert method in headers["access-control-allow-methods"], (origin, path, headers)
            assert "x-user-id" in headers["access-control-allow-headers"].lower(), (origin, path, headers)
            assert _varies_by_origin(headers), (origin, path, headers)

        health = call("GET", f"{local_api}/health", headers={"Origin": origin})
        assert health.status == 200 and health.body == {"status": "ok"}, origin
        assert _headers(health).get("access-control-allow-origin") == origin
        assert _varies_by_origin(_headers(health)), origin

        # The same page id from each origin: the first creates, the others get it back.
        started = call(
            "POST",
            f"{local_api}/sessions",
            user="u-cors",
            body={"advisor_id": "a-cors", "session_id": "page-cors-1"},
            headers={"Origin": origin},
        )
        headers = _headers(started)
        assert started.status in (200, 201), (origin, started)
        assert headers.get("access-control-allow-origin") == origin
        assert "location" in headers["access-control-expose-headers"].lower()  # the page reads it
        assert _varies_by_origin(headers), origin

        # A refusal carries the header too, or the page could not read why it was refused.
        refused = call(
            "POST", f"{local_api}/sessions", user="u-cors", body={"advisor_id": "a-nobody"}, headers={"Origin": origin}
        )
        assert refused.status in (404, 409), (origin, refused)
        assert _headers(refused).get("access-control-allow-origin") == origin


def test_any_other_origin_gets_no_cors_answer(local_api):
    for origin in FOREIGN_ORIGINS:
        preflight = _headers(_preflight(local_api, "/sessions", origin))
        health = call("GET", f"{local_api}/health", headers={"Origin": origin})
        assert health.status == 200  # CORS is the browser's to enforce: the answer just lacks it
        for headers in (preflight, _headers(health)):
            assert not [name for name in headers if name in CORS_HEADERS], (origin, headers)
            assert _varies_by_origin(headers), (origin, headers)

    reply = call("GET", f"{local_api}/health")  # no Origin at all: curl, or the same origin
    assert reply.status == 200 and reply.body == {"status": "ok"}
    assert "access-control-allow-origin" not in _headers(reply)
