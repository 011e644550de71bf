"""The store's reads: a view's snapshot, a start's decision read, single sessions, the active index."""

from typing import Any, Dict, FrozenSet, Iterator, Optional, Type

from botocore.exceptions import ClientError
from pynamodb.models import Model

from chalicelib.domain.errors import LegacyRecordUnusable, ServiceUnavailable
from chalicelib.domain.session import Session
from chalicelib.services.ports import Snapshot, View
from chalicelib.store.connection import ATTEMPTS, StoreConnection
from chalicelib.store.failures import CANCELLED, error_code, unavailable_on_failure
from chalicelib.store.models import AccountItem, AdvisorItem, SessionItem
from chalicelib.store.records import account_from_raw, session_from_raw, to_advisor, to_session


class _Conflict(Exception):
    """A read transaction was cancelled by a write in flight on the same items: retry."""


class StoreReads(StoreConnection):
    def view(self, session_id: str, user_id: str) -> View:
        """A session and one user's account at one instant (TransactGetItems). A BatchGetItem
        is not a snapshot: a charge landing between its two reads lowers the credit cap by a
        minute it already counted, and the timer goes back."""
        items = [
            {"Get": {"TableName": SessionItem.Meta.table_name, "Key": {"session_id": {"S": session_id}}}},
            {"Get": {"TableName": AccountItem.Meta.table_name, "Key": {"user_id": {"S": user_id}}}},
        ]
        for attempt in range(ATTEMPTS):
            if attempt:
                self.back_off(attempt)
            try:
                with unavailable_on_failure("TransactGetItems"):
                    try:
                        reply = self.connection.client.transact_get_items(TransactItems=items)
                    except ClientError as error:
                        # A read transaction has no conditions: any cancellation is a conflict.
                        if error_code(error) == CANCELLED:
                            raise _Conflict() from error
                        raise
            except _Conflict:
                continue
            session_raw, account_raw = (r.get("Item") for r in reply["Responses"])
            return View(session=session_from_raw(session_raw), account=account_from_raw(account_raw, user_id))
        raise ServiceUnavailable("the session is being changed right now; retry")

    def read(
        self,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        advisor_id: Optional[str] = None,
    ) -> Snapshot:
        """One consistent BatchGetItem: each item as it is, not all at one instant (the start's
        write is conditioned on what it decided from)."""
        wanted: Dict[Type[Model], str] = {}
        if session_id:
            wanted[SessionItem] = session_id
        if user_id:
            wanted[AccountItem] = user_id
        if advisor_id:
            wanted[AdvisorItem] = advisor_id
        raw = self._batch_get(wanted)
        return Snapshot(
            session=session_from_raw(raw.get(SessionItem)),
            account=account_from_raw(raw.get(AccountItem), user_id) if user_id else None,
            advisor=to_advisor(raw.get(AdvisorItem)),
        )

    def _batch_get(self, wanted: Dict[Type[Model], str]) -> Dict[Type[Model], Optional[Dict[str, Any]]]:
        """One consistent BatchGetItem over several tables, one key per table."""
        request = {
            model.Meta.table_name: {
                "Keys": [{model._hash_key_attribute().attr_name: {"S": key}}],
                "ConsistentRead": True,
            }
            for model, key in wanted.items()
        }
        by_table = {model.Meta.table_name: model for model in wanted}
        found: Dict[Type[Model], Optional[Dict[str, Any]]] = {model: None for model in wanted}
        for attempt in range(ATTEMPTS):
            if attempt:
                self.back_off(attempt)
            with unavailable_on_failure("BatchGetItem"):
                reply = self.connection.client.batch_get_item(RequestItems=request)
            for table, items in reply.get("Responses", {}).items():
                for raw in items:
                    found[by_table[table]] = raw
            # DynamoDB may leave keys unprocessed under load; ask again for just those.
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise ServiceUnavailable("the database is overloaded; retry")

    def session(self, session_id: str) -> Optional[Session]:
        with unavailable_on_failure("GetItem"):
            try:
                return to_session(SessionItem.get(session_id, consistent_read=True))
            except SessionItem.DoesNotExist:
                return None

    def first_active(self, session_ids: FrozenSet[str]) -> Optional[str]:
        """Which of these sessions is still active, if any: an account's markers are checked
        before a start is refused (one that names an ended session is repaired, not obeyed)."""
        for session_id in sorted(session_ids):
            try:
                session = self.session(session_id)
            except LegacyRecordUnusable:
                return session_id  # it counted once; a person must repair it
            if session is not None and session.is_active:
                return session_id
        return None

    def active_sessions(self, shard: int, forward: bool = True) -> Iterator[Session]:
        """Active sessions of one shard, page by page (the sparse index: never a scan), by
        `started_at_ms`: oldest first when `forward`, newest first otherwise."""
        with unavailable_on_failure("Query"):
            for item in SessionItem.active_by_shard.query(shard, scan_index_forward=forward, page_size=100):
                yield to_session(item)
