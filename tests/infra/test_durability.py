"""Every table of the packaged template survives a mistake: PITR on, kept on delete/replace."""

from chalicelib.store.models import TABLES


def test_the_packaged_template_creates_exactly_the_four_tables(template):
    assert set(template.of_type("AWS::DynamoDB::Table")) == set(TABLES)


def test_every_table_is_durable(template):
    for name, table in template.of_type("AWS::DynamoDB::Table").items():
        assert table.get("DeletionPolicy") == "Retain", name
        assert table.get("UpdateReplacePolicy") == "Retain", name
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert props.get("SSESpecification", {}).get("SSEEnabled") is True, name
