"""schemathesis against the local stage over real HTTP, driven by docs/openapi.json.

Every response is checked: no 5xx; a documented status, content type, headers and body;
malformed input refused with a 4xx; well-formed input never refused as malformed. Bounded by
FUZZ_EXAMPLES / FUZZ_SCENARIOS (tests/fuzz/conftest.py); `make fuzz` runs a longer pass.
"""

import json
import uuid
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import PositiveDataAcceptanceConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.domain.validation import SESSION_ID
from harness.http import call
from tests.fuzz.conftest import ADVISOR, EXAMPLES, EXPLORE, FAKE_TOKEN, STATEFUL_SCENARIOS, headers_for

pytestmark = pytest.mark.e2e  # it starts the local stage

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
# What a well-formed request may meet: no such session or advisor (404), another active
# session (409). Never a 400: what the document calls valid, the service must accept.
ACCEPTED = [200, 201, 402, 404, 409]


def bounded(examples: int, **more) -> settings:
    # CI replays the same cases (derandomized); `make fuzz` explores new ones each run.
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=not EXPLORE,
        suppress_health_check=list(HealthCheck),
        **more,
    )


def load_document():
    schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text()))
    schema.config.generation.update(max_examples=EXAMPLES)
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(expected_statuses=ACCEPTED)
    return schema


# Loaded at import: the stage's port is known only later, so each call names its base URL.
document = load_document()


def aim_at_the_seeded_advisor(case) -> None:
    """Random advisor ids all answer 404; half of the well-formed start bodies name the seeded
    advisor instead, so the fuzzer also reaches 201 and 200 with real sessions."""
    body = case.body
    positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
    is_start = positive and case.operation.path == "/sessions" and isinstance(body, dict)
    if is_start and len(str(body.get("advisor_id"))) % 2:
        body["advisor_id"] = ADVISOR


@document.parametrize()
@bounded(EXAMPLES)
def test_every_operation_answers_as_documented(case, fuzz_stage, fresh_user):
    aim_at_the_seeded_advisor(case)
    case.call_and_validate(base_url=fuzz_stage.api_url, headers=headers_for(fresh_user()), checks=CHECKS, timeout=10)


class Workflow(document.as_state_machine()):
    """Sequences that follow the document's links (a started session's id feeds poll and end),
    one fresh user per scenario."""

    stage = None
    make_user = None

    def setup(self):
        self.user = self.make_user()
        self.scope = uuid.uuid4().hex[:8]

    def before_call(self, case):
        aim_at_the_seeded_advisor(case)
        # Hypothesis replays a scenario's choices and expects the same outcomes: a session_id
        # an earlier scenario already took (409 instead of 201) would break that. Scoping the
        # ids to the scenario keeps repeats within it (the 200 path) and nothing else.
        body = case.body
        if case.operation.path == "/sessions" and isinstance(body, dict):
            session_id = body.get("session_id")
            if isinstance(session_id, str) and SESSION_ID.fullmatch(session_id):
                body["session_id"] = (self.scope + session_id)[:64]

    def get_call_kwargs(self, case):
        return {"base_url": self.stage.api_url, "headers": headers_for(self.user), "timeout": 10}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)


def test_workflows_answer_as_documented(fuzz_stage, fresh_user):
    Workflow.stage, Workflow.make_user = fuzz_stage, staticmethod(fresh_user)
    Workflow.run(settings=bounded(STATEFUL_SCENARIOS, stateful_step_count=6))


def test_a_percent_encoded_id_is_decoded_as_api_gateway_does(fuzz_stage, fresh_user):
    """Found by the fuzzer: chalice local passed `%3A` through, so a valid id with `:` sent
    encoded was a 400 locally while API Gateway would have looked it up."""
    reply = call("GET", f"{fuzz_stage.api_url}/sessions/legacy%3A0001%40x", headers=headers_for(fresh_user()))
    assert reply.status == 404 and reply.body["error"] == "session_not_found"


def test_the_stage_log_carries_ids_but_never_the_token_or_a_body(fuzz_stage, fresh_user):
    user, marker = fresh_user(), "BODY-MARKER-7f3a9c"
    started = call(
        "POST",
        f"{fuzz_stage.api_url}/sessions",
        headers=headers_for(user),
        body={"advisor_id": ADVISOR, "note": marker},
    )
    assert started.status == 201
    call("POST", f"{fuzz_stage.api_url}/sessions", headers=headers_for(user), raw=b'{"advisor_id": "' + marker.encode())
    call("POST", f"{fuzz_stage.api_url}/sessions/{started.body['session_id']}/end", headers=headers_for(user))
    log = fuzz_stage.output()
    assert started.body["session_id"] in log and user in log
    for secret in [FAKE_TOKEN, *FAKE_TOKEN.split("."), marker, "Authorization", "authorization"]:
        assert secret not in log


def test_a_semicolon_stays_part_of_the_id_as_in_api_gateway(fuzz_stage, fresh_user):
    """chalice local's URL parsing dropped `;...` from a path, so `/sessions/<id>;x` answered
    with session <id>; API Gateway passes `<id>;x`, which is not a valid id."""
    user = fresh_user()
    started = call("POST", f"{fuzz_stage.api_url}/sessions", headers=headers_for(user), body={"advisor_id": ADVISOR})
    reply = call("GET", f"{fuzz_stage.api_url}/sessions/{started.body['session_id']};x", headers=headers_for(user))
    assert reply.status == 400 and reply.body["error"] == "invalid_request"
