"""DNS rebinding: the local stage's three servers answer only a loopback Host on their own port.

A page at http://rebind.example:<port> whose name resolves to 127.0.0.1 reaches these servers
with its own name in Host. Each request here goes to 127.0.0.1 with the Host set explicitly;
a refused one is answered 421 {"error": "host_not_allowed"} and changes nothing.
"""

import http.client
import json
import uuid

import pytest

from harness.client import HttpClient

ADVISOR = "demo-advisor"
LIST_TABLES = "DynamoDB_20120810.ListTables"
PUT_ITEM = "DynamoDB_20120810.PutItem"
# moto tells services apart by the credential scope when the Host is an address; the
# signature itself is not checked.
MOTO_AUTH = (
    "AWS4-HMAC-SHA256 Credential=local/20250101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0"
)


def send(port, method, path, host, body=None, headers=None, hosts=None):
    """One request to 127.0.0.1:`port` with the given Host (None: no Host header at all;
    `hosts`: several Host headers): (status, parsed body, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for value in hosts if hosts is not None else ([] if host is None else [host]):
            conn.putheader("Host", value)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if payload is not None:
            conn.putheader("Content-Length", str(len(payload)))
        conn.endheaders(payload)
        reply = conn.getresponse()
        raw = reply.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return reply.status, parsed, {k.lower(): v for k, v in reply.getheaders()}
    finally:
        conn.close()


def _sid():
    return "e2e-host-" + uuid.uuid4().hex[:12]


# ---- what each server is asked: a request that would succeed with a proper Host -------------


def _api(stage, host, **kw):
    return send(stage.api_port, "GET", "/health", host, **kw)


def _dynamodb(stage, host, **kw):
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": LIST_TABLES, "Authorization": MOTO_AUTH}
    return send(stage.dynamodb_port, "POST", "/", host, body={}, headers=headers, **kw)


def _web(stage, host, **kw):
    return send(stage.web_port, "GET", "/config.json", host, **kw)


SERVERS = {"api": (_api, "api_port"), "dynamodb": (_dynamodb, "dynamodb_port"), "web": (_web, "web_port")}


def _forged_hosts(stage, port):
    other = stage.web_port if port != stage.web_port else stage.api_port
    return [
        f"rebind.example:{port}",
        f"127.0.0.1.rebind.example:{port}",
        f"localhost:{other}",  # a sibling server's port
        "localhost",  # no port
        f"localhost:{port}@rebind.example",
        None,  # no Host at all
    ]


def _assert_refused(status, body, headers, what):
    assert status == 421, (what, status, body)
    assert body["error"] == "host_not_allowed", (what, body)
    assert set(body) == {"error", "message"}, (what, body)
    assert headers["content-type"] == "application/json", what
    assert headers.get("connection", "").lower() == "close", what


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_each_server_refuses_a_forged_or_missing_host(stage, server):
    ask, port_name = SERVERS[server]
    port = getattr(stage, port_name)
    for host in _forged_hosts(stage, port):
        status, body, headers = ask(stage, host)
        _assert_refused(status, body, headers, (server, host))
    # Two Host headers, one of them right: which one a client or proxy believes is anyone's guess.
    status, body, headers = ask(stage, None, hosts=[f"localhost:{port}", f"rebind.example:{port}"])
    _assert_refused(status, body, headers, (server, "two Host headers"))


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_each_server_answers_every_loopback_name_on_its_port(stage, server):
    ask, port_name = SERVERS[server]
    port = getattr(stage, port_name)
    expected = {"api": {"status": "ok"}, "web": {"api_url": stage.api_url}}
    for name in ("localhost", "127.0.0.1", "[::1]", "LOCALHOST"):
        status, body, _ = ask(stage, f"{name}:{port}")
        assert status == 200, (server, name, status, body)
        if server == "dynamodb":
            assert "accounts" in body["TableNames"], (name, body)
        else:
            assert body == expected[server], (server, name, body)


def test_a_forged_host_post_sessions_writes_nothing(stage, seeded):
    user, sid = seeded(10_000), _sid()
    start = {"advisor_id": ADVISOR, "session_id": sid}
    as_user = {"X-User-Id": user, "Content-Type": "application/json"}

    status, body, headers = send(
        stage.api_port, "POST", "/sessions", f"rebind.example:{stage.api_port}", body=start, headers=as_user
    )
    _assert_refused(status, body, headers, "POST /sessions")

    api = HttpClient(stage.api_url)  # Host: localhost:<port>
    polled = api.poll(user, sid)
    assert polled.status == 404, polled
    account = stage.dynamodb().get_item(TableName="accounts", Key={"user_id": {"S": user}}, ConsistentRead=True)
    assert account["Item"]["balance"] == {"N": "10000"}
    assert account["Item"]["debited"] == {"N": "0"}

    # The same request with the proper Host goes through.
    status, body, _ = send(
        stage.api_port, "POST", "/sessions", f"localhost:{stage.api_port}", body=start, headers=as_user
    )
    assert status == 201, body
    assert api.poll(user, sid).status == 200
    assert api.end(user, sid).status == 200


def test_a_forged_host_put_item_writes_nothing_to_moto(stage):
    user = "e2e-host-" + uuid.uuid4().hex[:12]
    item = {
        "TableName": "accounts",
        "Item": {"user_id": {"S": user}, "balance": {"N": "999999"}, "debited": {"N": "0"}},
    }
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": PUT_ITEM, "Authorization": MOTO_AUTH}

    forged = send(stage.dynamodb_port, "POST", "/", f"rebind.example:{stage.dynamodb_port}", body=item, headers=headers)
    _assert_refused(*forged, "PutItem")
    key = {"user_id": {"S": user}}
    assert "Item" not in stage.dynamodb().get_item(TableName="accounts", Key=key, ConsistentRead=True)

    status, body, _ = send(
        stage.dynamodb_port, "POST", "/", f"127.0.0.1:{stage.dynamodb_port}", body=item, headers=headers
    )
    assert status == 200, body
    assert stage.dynamodb().get_item(TableName="accounts", Key=key, ConsistentRead=True)["Item"]["balance"] == {
        "N": "999999"
    }


def test_boto3_reaches_moto_at_either_endpoint_the_docs_use(stage):
    import boto3

    for endpoint in (stage.dynamodb_url, f"http://localhost:{stage.dynamodb_port}"):
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        assert "accounts" in client.list_tables()["TableNames"], endpoint


def test_the_chat_pages_preflight_passes_with_its_host_and_not_with_a_forged_one(stage):
    preflight = {
        "Origin": stage.web_url,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-user-id",
    }
    status, _, headers = send(stage.api_port, "OPTIONS", "/sessions", f"localhost:{stage.api_port}", headers=preflight)
    assert status == 200
    assert headers["access-control-allow-origin"] == stage.web_url

    forged = {**preflight, "Origin": f"http://rebind.example:{stage.api_port}"}
    status, body, headers = send(
        stage.api_port, "OPTIONS", "/sessions", f"rebind.example:{stage.api_port}", headers=forged
    )
    _assert_refused(status, body, headers, "preflight")
    assert "access-control-allow-origin" not in headers


def test_a_refused_request_leaves_the_server_serving(stage):
    # A refused request's body is read and its connection closed: the next request is answered.
    body = {"advisor_id": ADVISOR, "pad": "x" * 100_000}
    for _ in range(3):
        forged = send(stage.api_port, "POST", "/sessions", f"rebind.example:{stage.api_port}", body=body)
        _assert_refused(*forged, "POST with a body")
        status, reply, _ = _api(stage, f"127.0.0.1:{stage.api_port}")
        assert (status, reply) == (200, {"status": "ok"})
