"""Adopting the previous release's tables: the import files and the names the stack keeps."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tests.infra.packaged import PROJECT

CFN_LINT = Path(sys.executable).with_name("cfn-lint")
EXISTING = {"SessionsTable": "old-sessions", "AccountsTable": "old-accounts"}


def adopt_tables():
    spec = importlib.util.spec_from_file_location("adopt_tables", PROJECT / "infra" / "adopt_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_name(table: dict) -> dict:
    table = json.loads(json.dumps(table))
    table["Properties"].pop("TableName", None)
    return table


def test_each_table_keeps_an_adopted_name_and_otherwise_lets_the_stack_name_it(template):
    for logical_id, table in template.of_type("AWS::DynamoDB::Table").items():
        condition, parameter = f"Adopt{logical_id}", f"Existing{logical_id}"
        assert table["Properties"]["TableName"] == {
            "Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]
        }, logical_id
        assert template.parameters[parameter]["Default"] == ""
        assert template.data["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}


def test_the_import_template_is_the_deployed_definition_with_the_names_written_out(template):
    module = adopt_tables()
    imported, to_import = module.import_files(EXISTING)
    assert set(imported["Resources"]) == set(EXISTING)
    for logical_id, name in EXISTING.items():
        table = imported["Resources"][logical_id]
        assert table["Properties"]["TableName"] == name
        assert without_name(table) == without_name(template.resources[logical_id])
    assert to_import == [
        {
            "ResourceType": "AWS::DynamoDB::Table",
            "LogicalResourceId": logical_id,
            "ResourceIdentifier": {"TableName": name},
        }
        for logical_id, name in EXISTING.items()
    ]
    assert (
        module.parameter_overrides(EXISTING) == "ExistingSessionsTable=old-sessions ExistingAccountsTable=old-accounts"
    )


def test_the_script_writes_files_that_lint_clean(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(PROJECT / "infra" / "adopt_tables.py"),
            "--sessions",
            "old-sessions",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ExistingSessionsTable=old-sessions" in done.stdout
    assert json.loads((tmp_path / "resources-to-import.json").read_text())[0]["LogicalResourceId"] == "SessionsTable"
    lint = subprocess.run([str(CFN_LINT), "--", str(tmp_path / "import-template.json")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_script_refuses_to_run_without_a_table():
    done = subprocess.run([sys.executable, str(PROJECT / "infra" / "adopt_tables.py")], capture_output=True, text=True)
    assert done.returncode == 2 and "at least one" in done.stderr
