"""The PynamoDB models and infra/resources.json describe the same tables (docs/contract.md: the tested
schema cannot drift from the deployed one)."""

import copy

import pytest
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.local.tables import load_template, table_properties
from chalicelib.store.models import TABLES, AccountItem, AdvisorItem, LedgerItem, SessionItem

CONTRACT_LOGICAL_IDS = {"SessionsTable", "AccountsTable", "AdvisorsTable", "LedgerTable"}


def _keys(key_schema):
    keys = {}
    for element in key_schema:
        assert element["KeyType"] not in keys, f"two {element['KeyType']} keys"
        keys[element["KeyType"]] = element["AttributeName"]
    return keys


def _projection(projection):
    return projection.get("ProjectionType"), tuple(sorted(projection.get("NonKeyAttributes", [])))


def _indexes(indexes, name_key, key_schema_key, projection_key):
    out = {}
    for index in indexes or []:
        name = index[name_key]
        assert name not in out, f"index {name} defined twice"
        out[name] = {"keys": _keys(index[key_schema_key]), "projection": _projection(index[projection_key])}
    return out


def _attributes(definitions):
    return {d["AttributeName"]: d["AttributeType"] for d in definitions}


def model_schema(model):
    schema = model._get_schema()
    return {
        "keys": _keys(schema["key_schema"]),
        "attributes": _attributes(schema["attribute_definitions"]),
        "gsi": _indexes(schema.get("global_secondary_indexes"), "index_name", "key_schema", "projection"),
        "lsi": _indexes(schema.get("local_secondary_indexes"), "index_name", "key_schema", "projection"),
    }


def template_schema(props):
    return {
        "keys": _keys(props["KeySchema"]),
        "attributes": _attributes(props["AttributeDefinitions"]),
        "gsi": _indexes(props.get("GlobalSecondaryIndexes"), "IndexName", "KeySchema", "Projection"),
        "lsi": _indexes(props.get("LocalSecondaryIndexes"), "IndexName", "KeySchema", "Projection"),
    }


def schema_differences(model, props):
    """Human-readable differences between a model and a template table; [] when they agree."""
    mine, theirs = model_schema(model), template_schema(props)
    diffs = []
    if mine["keys"] != theirs["keys"]:
        diffs.append(f"table key: model {mine['keys']} != template {theirs['keys']}")
    for name in sorted(set(mine["attributes"]) | set(theirs["attributes"])):
        a, b = mine["attributes"].get(name), theirs["attributes"].get(name)
        if a != b:
            diffs.append(f"attribute {name}: model {a} != template {b}")
    for kind in ("gsi", "lsi"):
        for name in sorted(set(mine[kind]) | set(theirs[kind])):
            a, b = mine[kind].get(name), theirs[kind].get(name)
            if a is None or b is None:
                diffs.append(f"{kind} {name}: only in {'template' if a is None else 'model'}")
                continue
            if a["keys"] != b["keys"]:
                diffs.append(f"{kind} {name} key: model {a['keys']} != template {b['keys']}")
            if a["projection"] != b["projection"]:
                diffs.append(f"{kind} {name} projection: model {a['projection']} != template {b['projection']}")
    return diffs


# --- the real models against the real template ---


def test_template_tables_are_exactly_the_models_tables():
    assert set(table_properties()) == CONTRACT_LOGICAL_IDS
    assert set(TABLES) == CONTRACT_LOGICAL_IDS


@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_model_matches_template(logical_id):
    model, _ = TABLES[logical_id]
    props = table_properties()[logical_id]
    assert schema_differences(model, props) == []


@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_template_defines_only_key_attributes(logical_id):
    # DynamoDB refuses AttributeDefinitions that no key or index uses.
    props = table_properties()[logical_id]
    schema = template_schema(props)
    used = set(schema["keys"].values())
    for kind in ("gsi", "lsi"):
        for index in schema[kind].values():
            used |= set(index["keys"].values())
    assert set(schema["attributes"]) == used


def test_spec_keys_and_indexes():
    props = table_properties()
    assert template_schema(props["AccountsTable"])["keys"] == {"HASH": "user_id"}
    assert template_schema(props["AdvisorsTable"])["keys"] == {"HASH": "advisor_id"}
    sessions = template_schema(props["SessionsTable"])
    assert sessions["keys"] == {"HASH": "session_id"}
    assert sessions["attributes"]["session_id"] == "S"
    # An admin lists one user's or one advisor's sessions by start time.
    by_partition = {index["keys"]["HASH"]: index["keys"].get("RANGE") for index in sessions["gsi"].values()}
    assert by_partition.get("user_id") == "started_at_ms"
    assert by_partition.get("advisor_id") == "started_at_ms"
    assert sessions["attributes"]["started_at_ms"] == "N"


@pytest.mark.parametrize(
    "model, attribute, kind",
    [
        (AccountItem, "user_id", UnicodeAttribute),
        (AccountItem, "balance", NumberAttribute),
        (AdvisorItem, "advisor_id", UnicodeAttribute),
        (AdvisorItem, "rate_per_minute", NumberAttribute),
        (AdvisorItem, "display_name", UnicodeAttribute),
        (SessionItem, "session_id", UnicodeAttribute),
        (SessionItem, "user_id", UnicodeAttribute),
        (SessionItem, "advisor_id", UnicodeAttribute),
        (SessionItem, "status", UnicodeAttribute),
        (SessionItem, "started_at_ms", NumberAttribute),
        (SessionItem, "started_at", UnicodeAttribute),
        (SessionItem, "rate_per_minute", NumberAttribute),
        (SessionItem, "billed_minutes", NumberAttribute),
        (SessionItem, "charged", NumberAttribute),
        (SessionItem, "ended_at_ms", NumberAttribute),
        (SessionItem, "ended_at", UnicodeAttribute),
        (SessionItem, "end_reason", UnicodeAttribute),
        (SessionItem, "schema_version", NumberAttribute),
        (SessionItem, "created_at", NumberAttribute),
        (SessionItem, "timer_start", NumberAttribute),
        (LedgerItem, "user_id", UnicodeAttribute),
        (LedgerItem, "session_id", UnicodeAttribute),
        (LedgerItem, "amount", NumberAttribute),
        (LedgerItem, "minutes", NumberAttribute),
    ],
)
def test_stored_attributes_have_the_spec_types(model, attribute, kind):
    attributes = model.get_attributes()
    assert attribute in attributes
    assert type(attributes[attribute]) is kind


@pytest.mark.parametrize("logical_id", sorted(CONTRACT_LOGICAL_IDS))
def test_every_table_is_protected_and_on_demand(logical_id):
    resource = load_template()["Resources"][logical_id]
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert resource.get("DeletionPolicy") == "Retain"
    props = resource["Properties"]
    assert props.get("BillingMode") == "PAY_PER_REQUEST"
    assert props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True


def test_every_dynamodb_table_in_the_template_is_protected():
    tables = [r for r in load_template()["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert tables
    for resource in tables:
        assert resource.get("DeletionPolicy") == "Retain"
        assert resource["Properties"].get("BillingMode") == "PAY_PER_REQUEST"
        assert resource["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


# --- the check itself can fail ---


def _gsi(props, name):
    return next(index for index in props["GlobalSecondaryIndexes"] if index["IndexName"] == name)


def _change_index_key(t):
    _gsi(t["Resources"]["SessionsTable"]["Properties"], "by_user")["KeySchema"][1]["AttributeName"] = "user_id"


def _swap_index_key_types(t):
    keys = _gsi(t["Resources"]["SessionsTable"]["Properties"], "active_by_shard")["KeySchema"]
    keys[0]["KeyType"], keys[1]["KeyType"] = keys[1]["KeyType"], keys[0]["KeyType"]


def _change_attribute_type(t):
    for d in t["Resources"]["SessionsTable"]["Properties"]["AttributeDefinitions"]:
        if d["AttributeName"] == "active_shard":
            d["AttributeType"] = "S"


def _rename_index(t):
    _gsi(t["Resources"]["SessionsTable"]["Properties"], "by_day")["IndexName"] = "by_date"


def _drop_index(t):
    props = t["Resources"]["LedgerTable"]["Properties"]
    props["GlobalSecondaryIndexes"] = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] != "by_user"]


def _change_projection(t):
    _gsi(t["Resources"]["SessionsTable"]["Properties"], "by_advisor")["Projection"] = {"ProjectionType": "KEYS_ONLY"}


def _change_table_range_key(t):
    t["Resources"]["LedgerTable"]["Properties"]["KeySchema"][1]["AttributeName"] = "charged_at_ms"


def _add_table_range_key(t):
    props = t["Resources"]["AccountsTable"]["Properties"]
    props["KeySchema"].append({"AttributeName": "since", "KeyType": "RANGE"})
    props["AttributeDefinitions"].append({"AttributeName": "since", "AttributeType": "N"})


MUTATIONS = {
    "index key": ("SessionsTable", _change_index_key),
    "index key types swapped": ("SessionsTable", _swap_index_key_types),
    "attribute type": ("SessionsTable", _change_attribute_type),
    "index name": ("SessionsTable", _rename_index),
    "index dropped": ("LedgerTable", _drop_index),
    "projection": ("SessionsTable", _change_projection),
    "table range key": ("LedgerTable", _change_table_range_key),
    "table key added": ("AccountsTable", _add_table_range_key),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_comparison_reports_a_drifted_template(mutation):
    logical_id, mutate = MUTATIONS[mutation]
    original = load_template()
    drifted = copy.deepcopy(original)
    mutate(drifted)
    model = TABLES[logical_id][0]
    assert schema_differences(model, table_properties(drifted)[logical_id]) != []
    # The real template is untouched and still agrees.
    assert schema_differences(model, table_properties(original)[logical_id]) == []


def test_comparison_reports_a_drifted_model():
    class DriftedByUser(GlobalSecondaryIndex):
        class Meta:
            index_name = "by_user"
            projection = AllProjection()

        user_id = UnicodeAttribute(hash_key=True)
        started_at_ms = UnicodeAttribute(range_key=True)  # S where the template says N

    class DriftedLedger(Model):
        class Meta:
            table_name = "drifted"
            region = "us-east-1"

        session_id = UnicodeAttribute(hash_key=True)
        first_minute = NumberAttribute(range_key=True)
        user_id = UnicodeAttribute()
        started_at_ms = UnicodeAttribute()
        by_user = DriftedByUser()

    diffs = schema_differences(DriftedLedger, table_properties()["LedgerTable"])
    assert any("by_user" in d for d in diffs)
    assert any("started_at_ms" in d for d in diffs)
