"""Input rules, checked once at the edge before anything reaches a DynamoDB key."""

import re
from dataclasses import dataclass
from typing import Any, Optional

from chalicelib.domain.errors import InvalidRequest

MAX_BODY_BYTES = 4096

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# Ids we did not mint (advisors, users, sessions of the previous release) may be UUIDs or
# provider subjects; still a closed alphabet and a bounded length.
FOREIGN_ID = re.compile(r"[A-Za-z0-9_.:@|-]{1,128}")


@dataclass(frozen=True)
class StartRequest:
    """A POST /sessions body, validated (its advisor_id's problem kept for after idempotency)."""

    advisor_id: Optional[str]
    session_id: Optional[str]
    advisor_problem: Optional[str] = None  # why advisor_id is unusable, decided after idempotency


def is_foreign_id(value: Any) -> bool:
    return isinstance(value, str) and FOREIGN_ID.fullmatch(value) is not None


def check_path_session_id(value: Any) -> str:
    if not isinstance(value, str) or not is_foreign_id(value):
        raise InvalidRequest("session id must be 1-128 characters of [A-Za-z0-9_.:@|-]")
    return value


def parse_start_request(body: Any) -> StartRequest:
    """Validate POST /sessions. A bad advisor_id is reported only after the idempotency check:
    a repeated session_id answers with the stored session whatever the rest of the body says."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    session_id = body.get("session_id")
    if session_id is not None and (not isinstance(session_id, str) or SESSION_ID.fullmatch(session_id) is None):
        raise InvalidRequest("session_id must be 8-64 characters of [A-Za-z0-9_-]")
    advisor_id = body.get("advisor_id")
    problem = None
    if advisor_id is None:
        problem = "advisor_id is required"
    elif not is_foreign_id(advisor_id):
        problem = "advisor_id must be a string of 1-128 characters of [A-Za-z0-9_.:@|-]"
    if problem and session_id is None:
        raise InvalidRequest(problem)
    return StartRequest(advisor_id=None if problem else advisor_id, session_id=session_id, advisor_problem=problem)
