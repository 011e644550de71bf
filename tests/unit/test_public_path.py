"""The Location rule (chalicelib/api/public_path.py) without HTTP: the prefix is what the
client's path (`requestContext.path`) has before the matched resource (`resourcePath`);
anything unexpected gives the bare `/sessions/{id}`, never an error, never another host."""

import json
import re
from pathlib import Path

import pytest

from chalicelib.api.public_path import public_prefix, session_location
from chalicelib.domain.validation import SESSION_ID

SID = "page-0001"
LOCATION_SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())["components"][
    "headers"
]["Location"]["schema"]


def _context(path, resource="/sessions"):
    return {"path": path, "resourcePath": resource, "stage": "api", "httpMethod": "POST"}


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/api/sessions", "/api/sessions/page-0001"),  # execute-api URL, stage `api`
        ("/v1/sessions", "/v1/sessions/page-0001"),  # custom domain, base path mapping `v1`
        ("/sessions", "/sessions/page-0001"),  # custom domain without base path; the local stage
        ("/chat/v2/sessions", "/chat/v2/sessions/page-0001"),  # multi-level base path
        ("/api/sessions/", "/api/sessions/page-0001"),  # a trailing slash API Gateway routed here
        ("/sessions/", "/sessions/page-0001"),
        ("/v1.2_beta-$!*'()+/sessions", "/v1.2_beta-$!*'()+/sessions/page-0001"),  # every base path character
    ],
)
def test_the_location_keeps_the_prefix_the_client_came_through(path, expected):
    assert session_location(_context(path), SID) == expected


def test_the_prefix_is_what_the_path_has_before_the_resource():
    assert public_prefix(_context("/api/sessions")) == "/api"
    assert public_prefix(_context("/v1/sessions")) == "/v1"
    assert public_prefix(_context("/sessions")) == ""
    assert public_prefix(_context("/api/", resource="/")) == "/api"
    assert public_prefix(_context("/", resource="/")) == ""


@pytest.mark.parametrize(
    "session_id, encoded",
    [
        ("a/b", "a%2Fb"),
        ("a b", "a%20b"),
        ("legacy:0001@x|y", "legacy%3A0001%40x%7Cy"),
        ("q?x=1#frag", "q%3Fx%3D1%23frag"),
        ("100%", "100%25"),
        ("ü", "%C3%BC"),
        ("A-z_0.9~", "A-z_0.9~"),
    ],
)
def test_the_id_is_percent_encoded(session_id, encoded):
    assert session_location(_context("/api/sessions"), session_id) == f"/api/sessions/{encoded}"
    assert session_location(None, session_id) == f"/sessions/{encoded}"


def test_ids_the_app_accepts_need_no_encoding_and_are_left_as_they_are():
    # The start body's session_id is [A-Za-z0-9_-]{8,64} and server ids are uuid4 hex, so
    # encoding changes nothing for them today; the test above holds the rule for any other id.
    for session_id in ("page-0001", "A_b-9" * 12 + "abcd", "0123456789abcdef0123456789abcdef"):
        assert SESSION_ID.fullmatch(session_id)
        assert session_location(_context("/sessions"), session_id) == f"/sessions/{session_id}"


@pytest.mark.parametrize(
    "context",
    [
        None,
        "not a mapping",
        ["/api/sessions", "/sessions"],
        {},
        {"resourcePath": "/sessions"},  # no path
        {"path": "/api/sessions"},  # no resourcePath
        {"path": None, "resourcePath": "/sessions"},
        {"path": "/api/sessions", "resourcePath": None},
        {"path": 42, "resourcePath": "/sessions"},
        {"path": b"/api/sessions", "resourcePath": "/sessions"},
        {"path": "/api/sessions", "resourcePath": ["/sessions"]},
        {"path": "/api/sessions", "resourcePath": "sessions"},  # not a resource path
        {"path": "/api/sessions", "resourcePath": ""},
        _context("/api/other"),  # does not end with the resource
        _context("/api/sessionsx"),
        _context("/apisessions"),  # ends with the text but not at a segment boundary
        _context("/api/sessions/page-0001", resource="/sessions/{session_id}"),  # a template, not the path
        _context("/api/sessions//"),
        _context(""),
    ],
)
def test_a_malformed_context_gives_the_bare_path(context):
    assert public_prefix(context) == ""
    assert session_location(context, SID) == "/sessions/page-0001"


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example/sessions",  # scheme-relative: another host
        "//evil.example/api/sessions",
        "///evil.example/sessions",
        "/api//sessions",  # an empty segment
        "/\\evil.example/sessions",  # browsers read /\ as //
        "\\\\evil.example/sessions",
        "https://evil.example/sessions",
        "http:/sessions",
        "evil.example/sessions",  # not a path from the root
        "api/sessions",
        "/../sessions",  # dot segments resolve elsewhere
        "/api/../sessions",
        "/./sessions",
        "/api%2F..%2F/sessions",  # encoded characters are not a base path
        "/%2F%2Fevil.example/sessions",
        "/a b/sessions",
        "/api\r\nSet-Cookie: x=1/sessions",  # a header break
        "/api\x00/sessions",
        "/api?x=/sessions",
        "/api#x/sessions",
        "/api;x/sessions",
        "/ü/sessions",
    ],
)
def test_a_prefix_that_is_not_plain_path_segments_gives_the_bare_path(path):
    assert session_location(_context(path), SID) == "/sessions/page-0001"


@pytest.mark.parametrize(
    "path",
    ["/api/sessions", "/v1/sessions", "/sessions", "/chat/v2/sessions", "//evil.example/sessions", None],
)
@pytest.mark.parametrize("session_id", [SID, "a/b c", "legacy:0001@x"])
def test_every_location_is_one_path_from_the_root_and_matches_the_documented_pattern(path, session_id):
    location = session_location(_context(path), session_id)
    assert location.startswith("/") and not location.startswith("//")
    assert "\\" not in location and not any(ch.isspace() for ch in location)
    assert re.search(LOCATION_SCHEMA["pattern"], location), (location, LOCATION_SCHEMA["pattern"])
