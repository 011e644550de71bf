"""Configuration, read from the environment when asked for, never at import.

Chalice's test client sets a stage's environment variables only while a request runs,
and the local stage sets them after importing some modules, so every reader calls
`current()` at the moment it needs a value.
"""

import os
from dataclasses import dataclass
from typing import Optional

LOCAL_STAGE = "local"


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    sessions_table: str
    accounts_table: str
    advisors_table: str
    ledger_table: str
    dynamodb_endpoint: Optional[str]
    active_shards: int
    cors_origin: str
    billing_safety_margin_ms: int
    billing_workers: int

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE


def current() -> Settings:
    env = os.environ
    return Settings(
        # Unset means "not the local stage": the X-User-Id header is then never honoured.
        stage=env.get("STAGE", ""),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        sessions_table=env.get("SESSIONS_TABLE", "sessions"),
        accounts_table=env.get("ACCOUNTS_TABLE", "accounts"),
        advisors_table=env.get("ADVISORS_TABLE", "advisors"),
        ledger_table=env.get("LEDGER_TABLE", "ledger"),
        dynamodb_endpoint=env.get("DYNAMODB_ENDPOINT") or None,
        # Shards can only grow: billing queries shards 0..N-1, so a session written with a
        # smaller N is still found after N is raised.
        active_shards=int(env.get("ACTIVE_SHARDS", "16")),
        cors_origin=env.get("CORS_ORIGIN", "http://localhost:8002"),
        billing_safety_margin_ms=int(env.get("BILLING_SAFETY_MARGIN_MS", "10000")),
        billing_workers=int(env.get("BILLING_WORKERS", "8")),
    )
