"""cfn-lint (pinned in requirements-dev.txt) passes on the packaged template: no error, no warning."""

import copy
import json
import subprocess
import sys
from pathlib import Path

CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def lint(path: Path) -> list:
    done = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def findings(matches, levels=("Error", "Warning")) -> list:
    return [f"{m['Rule']['Id']} {m['Location']['Path']}: {m['Message']}" for m in matches if m["Level"] in levels]


def test_the_packaged_template_lints_clean(template):
    assert findings(lint(template.path)) == []


def test_the_linter_does_find_a_broken_reference(template, tmp_path):
    # cfn-lint checks references in plain CloudFormation resources (not inside SAM's own:
    # test_functions.py checks the functions' table references itself).
    broken = copy.deepcopy(template.data)
    role = template.functions[template.function_by_handler("app.app")]["Properties"]["Role"]["Fn::GetAtt"][0]
    statement = broken["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][-1]
    statement["Resource"] = {"Fn::GetAtt": ["NoSuchTable", "Arn"]}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert any("NoSuchTable" in finding for finding in findings(lint(path), ("Error",)))
