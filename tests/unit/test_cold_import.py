"""What the API function's cold start imports (bench/cold_start.py measures its cost): not the
billing run, not the previous release's records (legacy/, imported when one is met)."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
NOT_AT_IMPORT = ("chalicelib.legacy", "chalicelib.services.billing", "chalicelib.services.schedule", "boto3")


def _modules_after(statement: str) -> set:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_importing_the_app_loads_neither_billing_nor_schema1_support():
    loaded = _modules_after("import app")
    assert not [m for m in loaded if m.startswith(NOT_AT_IMPORT)], sorted(loaded)


def test_a_schema1_record_loads_its_rules_when_met():
    loaded = _modules_after(
        "import app; from chalicelib.store.records import session_from_raw; session_from_raw({"
        "'session_id': {'S': 'l-1'}, 'user_id': {'S': 'u'}, 'advisor_id': {'S': 'a'},"
        "'status': {'S': 'active'}, 'rate_per_minute': {'N': '1'}, 'created_at': {'N': '1700000000'}})"
    )
    assert "chalicelib.legacy.records" in loaded
