"""The local stage's Host rule (chalicelib/local/host_check.py): a loopback name on the
server's own port, nothing else. The servers themselves are asked in tests/e2e/test_local_host.py."""

import json

import pytest

from chalicelib.local.host_check import REFUSAL_STATUS, HostCheckedHandler, allowed_host, refusal_body


@pytest.mark.parametrize(
    "host",
    [
        "localhost:8000",
        "127.0.0.1:8000",
        "[::1]:8000",
        "LOCALHOST:8000",
        "LocalHost:8000",
        " localhost:8000 ",  # optional whitespace around a field value is not part of it
    ],
)
def test_a_loopback_name_on_the_servers_port_is_allowed(host):
    assert allowed_host(host, 8000)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        " ",
        "evil.example:8000",
        "rebind.example:8000",
        "localhost:9999",  # another port of this machine
        "localhost:8001",  # a sibling server's port
        "localhost:80",
        "localhost:08000",
        "localhost",  # no port: only port 80's clients leave it out
        "127.0.0.1",
        "[::1]",
        "::1:8000",  # unbracketed
        "[0:0:0:0:0:0:0:1]:8000",  # another spelling of ::1: not what clients send
        "127.0.0.2:8000",
        "0.0.0.0:8000",
        "127.0.0.1.evil.example:8000",
        "localhost.evil.example:8000",
        "evil.localhost:8000",
        "localhost.:8000",  # the fully qualified spelling: a name of its own to a browser
        "localhost:8000@evil",
        "localhost:8000@evil.example:8000",
        "user@localhost:8000",
        "localhost:8000:8000",
        "localhost:8000/",
        "localhost:8000,evil.example:8000",
        "localhost :8000",
        "localhost:8000\x00",
        "localhost:8000.evil.example",
        "http://localhost:8000",
    ],
)
def test_anything_else_is_refused(host):
    assert not allowed_host(host, 8000)


def test_the_port_is_the_servers_own():
    for port in (8001, 8002, 41234):
        assert allowed_host(f"127.0.0.1:{port}", port)
        assert not allowed_host("127.0.0.1:8000", port)


def test_the_bare_name_is_allowed_on_port_80_only_where_clients_leave_the_port_out():
    for host in ("localhost", "127.0.0.1", "[::1]", "localhost:80", "LOCALHOST"):
        assert allowed_host(host, 80), host
    assert not allowed_host("localhost:8000", 80)
    assert not allowed_host("evil.example", 80)


def test_the_refusal_is_421_with_a_small_json_body_naming_the_allowed_hosts():
    assert REFUSAL_STATUS == 421
    body = json.loads(refusal_body(8000))
    assert set(body) == {"error", "message"}
    assert body["error"] == "host_not_allowed"
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert host in body["message"]


def test_all_three_servers_handlers_check_the_host_first():
    from chalicelib.local import api_server, stage

    for handler in (api_server._Handler, stage._WebHandler):
        assert issubclass(handler, HostCheckedHandler)
        assert handler.__mro__[1] is HostCheckedHandler, handler  # before the server's own parsing
