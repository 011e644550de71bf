"""Adopting the previous release's tables into the stack, so its records stay where they are.

CloudFormation can take over existing tables only through an IMPORT whose template holds
nothing but those tables, each with its name written out. This writes that template and the
list of tables to import, both derived from infra/resources.json so the imported definition
is the deployed one; docs/deploy.md says when and how to use them.

    python infra/adopt_tables.py --sessions NAME --accounts NAME [--advisors NAME] [--ledger NAME]
"""

import argparse
import copy
import json
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "infra" / "resources.json"
LOGICAL_IDS = {
    "sessions": "SessionsTable",
    "accounts": "AccountsTable",
    "advisors": "AdvisorsTable",
    "ledger": "LedgerTable",
}


def import_files(existing: Dict[str, str], source: Path = SOURCE) -> Tuple[dict, List[dict]]:
    """(template, resources to import) for `existing`: logical id -> the table's current name."""
    resources = json.loads(source.read_text())["Resources"]
    tables = {}
    for logical_id, name in existing.items():
        table = copy.deepcopy(resources[logical_id])
        assert table["Type"] == "AWS::DynamoDB::Table", logical_id
        table["Properties"]["TableName"] = name
        tables[logical_id] = table
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Session timer: the previous release's tables, imported as they are (infra/adopt_tables.py).",
        "Resources": tables,
    }
    to_import = [
        {
            "ResourceType": "AWS::DynamoDB::Table",
            "LogicalResourceId": logical_id,
            "ResourceIdentifier": {"TableName": name},
        }
        for logical_id, name in existing.items()
    ]
    return template, to_import


def parameter_overrides(existing: Dict[str, str]) -> str:
    """What the deployments after the import must pass, every time, to keep these names."""
    return " ".join(f"Existing{logical_id}={name}" for logical_id, name in existing.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for option in LOGICAL_IDS:
        parser.add_argument(f"--{option}", metavar="NAME", help=f"the existing {option} table")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "adopt", help="where to write (default build/adopt)"
    )
    args = parser.parse_args(argv)
    existing = {LOGICAL_IDS[o]: getattr(args, o) for o in LOGICAL_IDS if getattr(args, o)}
    if not existing:
        parser.error("name at least one existing table")
    template, to_import = import_files(existing)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "import-template.json").write_text(json.dumps(template, indent=2) + "\n")
    (args.out / "resources-to-import.json").write_text(json.dumps(to_import, indent=2) + "\n")
    print(f"wrote {args.out}/import-template.json and {args.out}/resources-to-import.json")
    print(f"every later deployment: --parameter-overrides {parameter_overrides(existing)} ...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
