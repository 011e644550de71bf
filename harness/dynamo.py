"""DynamoDB for tests and benchmarks: tables from infra/resources.json, seeding helpers, raw
reads, a request counter."""

import contextlib
import threading
from typing import Dict, List, Optional, Tuple

import boto3
from botocore.client import BaseClient

from chalicelib.api import dependencies
from chalicelib.local.tables import create_tables
from chalicelib.settings import current
from chalicelib.store import models
from chalicelib.store.models import AccountItem, AdvisorItem, LedgerItem, SessionItem

# Raw boto3 clients by (region, endpoint): building one costs about 10 ms, more than the read.
_raw_clients: Dict[Tuple[str, Optional[str]], object] = {}


def raw_client():
    """A boto3 DynamoDB client for the current settings (no model in between)."""
    settings = current()
    key = (settings.region, settings.dynamodb_endpoint)
    if key not in _raw_clients:
        _raw_clients[key] = boto3.client(
            "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint
        )
    return _raw_clients[key]


def fresh_tables(endpoint=None):
    """Create the tables (for the current settings) and forget every cached connection."""
    settings = current()
    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=endpoint)
    create_tables(client, settings)
    _raw_clients.clear()
    models.forget_connections()
    models.bind(settings)
    dependencies.forget_store()
    return client


def add_user(user_id: str, balance: int) -> None:
    AccountItem(user_id, balance=balance, debited=0).save()


def add_advisor(advisor_id: str, rate: int, name: str = "An Advisor") -> None:
    AdvisorItem(advisor_id, rate_per_minute=rate, display_name=name).save()


def balance_of(user_id: str) -> int:
    try:
        return int(AccountItem.get(user_id, consistent_read=True).balance or 0)
    except AccountItem.DoesNotExist:
        return 0


def account_item(user_id: str):
    return AccountItem.get(user_id, consistent_read=True)


def active_sessions_of(user_id: str) -> set:
    """The sessions the account counts as active: its set, and the single marker of earlier
    builds (read raw, so that it means the same whatever the model declares)."""
    item = (
        raw_client()
        .get_item(TableName=current().accounts_table, Key={"user_id": {"S": user_id}}, ConsistentRead=True)
        .get("Item", {})
    )
    return set(item.get("active_sessions", {}).get("SS", [])) | {item.get("active_session_id", {}).get("S")} - {None}


def session_item(session_id: str):
    return SessionItem.get(session_id, consistent_read=True)


def all_sessions() -> list:
    return list(SessionItem.scan())


def ledger_of(session_id: str) -> list:
    return list(LedgerItem.query(session_id, consistent_read=True))


class RequestCounter:
    """Every DynamoDB API call made through botocore (PynamoDB included), by operation."""

    def __init__(self):
        self.calls: List[str] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()

    @contextlib.contextmanager
    def counting(self):
        self.reset()
        yield self


# One for the process: every mock_aws backend shares the stubber class patched below.
_MOTO_LOCK = threading.RLock()


@contextlib.contextmanager
def serialised_moto():
    """In-process moto (mock_aws) handles one request at a time, as the local stage's server
    does (chalicelib/local/moto_server.py). Its backend is not thread-safe: a transaction copies
    whole tables while another thread's write changes them ("dictionary changed size during
    iteration"), which DynamoDB, atomic per request, never does. The billing run and the
    backfill run threads, so their tests need this; it changes nothing for one thread."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def one_at_a_time(self, request):
        with _MOTO_LOCK:
            return original(self, request)

    BotocoreStubber.process_request = one_at_a_time
    try:
        yield
    finally:
        BotocoreStubber.process_request = original


@contextlib.contextmanager
def counting_requests():
    """Count every DynamoDB call made through botocore while the block runs (no pytest needed:
    the benchmarks use it too)."""
    counter = RequestCounter()
    original = BaseClient._make_api_call

    def counted(client, operation_name, params):
        if client.meta.service_model.service_name == "dynamodb":
            with counter.lock:
                counter.calls.append(operation_name)
        return original(client, operation_name, params)

    BaseClient._make_api_call = counted
    try:
        yield counter
    finally:
        BaseClient._make_api_call = original
