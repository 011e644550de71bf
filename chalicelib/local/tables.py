"""Create the tables from infra/resources.json, the one definition the deployment also uses."""

import json
from pathlib import Path
from typing import Dict, Optional

from chalicelib.settings import Settings
from chalicelib.store.models import TABLES

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "resources.json"

# What create_table understands; the rest (PITR, SSE, tags) is deployment-only.
_CREATE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode")


def load_template(path: Path = TEMPLATE) -> dict:
    return json.loads(Path(path).read_text())


def table_properties(template: Optional[dict] = None) -> Dict[str, dict]:
    """Logical id -> the Properties of each AWS::DynamoDB::Table in the template."""
    template = template or load_template()
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def create_table_requests(settings: Settings) -> Dict[str, dict]:
    """Table name -> create_table kwargs, names taken from settings like the app does."""
    requests = {}
    for logical_id, props in table_properties().items():
        name = getattr(settings, TABLES[logical_id][1])
        request = {key: props[key] for key in _CREATE_KEYS if key in props}
        requests[name] = {"TableName": name, **request}
    return requests


def create_tables(client, settings: Settings) -> None:
    existing = set(client.list_tables().get("TableNames", []))
    for name, request in create_table_requests(settings).items():
        if name not in existing:
            client.create_table(**request)
