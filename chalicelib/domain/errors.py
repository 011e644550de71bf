"""Domain errors. Each carries a stable machine-readable code; api/errors.py maps them to HTTP."""

from typing import Optional

from chalicelib.domain.session import Account


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidRequest(DomainError):
    code = "invalid_request"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class SessionNotFound(DomainError):
    code = "session_not_found"

    def __init__(self, session_id: str):
        # The same message whether the session is missing or someone else's: nothing leaks.
        super().__init__("no such session")
        self.session_id = session_id


class AdvisorNotFound(DomainError):
    code = "advisor_not_found"


class AdvisorUnavailable(DomainError):
    """The advisor exists but cannot be booked (its stored rate is unusable): nothing is written."""

    code = "advisor_unavailable"


class InsufficientCredit(DomainError):
    code = "insufficient_credit"


class ActiveSessionExists(DomainError):
    code = "active_session_exists"

    def __init__(self, active_session_id: str):
        super().__init__(f"the user already has an active session: {active_session_id}")
        self.active_session_id = active_session_id


class SessionIdTaken(DomainError):
    code = "session_id_taken"


class ServiceUnavailable(DomainError):
    """DynamoDB throttled, failed or kept conflicting: nothing was written, retrying is safe."""

    code = "service_unavailable"

    def __init__(self, message: str = "temporarily unavailable, retry shortly", retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class ChargeConflict(Exception):
    """Someone else changed the session or the balance between our read and our write.

    Not a DomainError: the services re-read and decide again; callers never see it.
    `account` is the account as DynamoDB had it when only its balance guard failed.
    """

    def __init__(self, reason: str = "conflict", account: Optional[Account] = None):
        super().__init__(reason)
        self.account = account


class LegacyRecordUnusable(DomainError):
    """A record of the previous release lacks what its upgrade needs (a start time, a rate...).

    Never guessed around: a wrong start would bill the wrong minutes. The backfill reports
    such records for a person to repair; a request of its user or advisor touching one gets
    409, and the problem goes to the log.
    """

    code = "legacy_record_unusable"

    def __init__(
        self,
        session_id: str,
        problem: str = "it lacks what its upgrade needs",
        user_id: Optional[str] = None,
        advisor_id: Optional[str] = None,
    ):
        # What is wrong with the record stays in the logs and the operator's reports: a
        # client learns only that a person must repair it.
        super().__init__(f"session {session_id} is a record of the previous release that must be repaired before use")
        self.session_id = session_id
        self.problem = problem
        self.user_id = user_id
        # The session's user and advisor: to anyone else it must stay a plain 404.
        self.parties = tuple(p for p in (user_id, advisor_id) if p)
