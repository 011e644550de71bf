"""checkov, a third-party IaC scanner (its own venv, .venv/checkov: make checkov), passes on
the packaged template: every check passes or is skipped in the resource's Metadata with a
written reason."""

import functools
import json
import subprocess
from pathlib import Path

from tests.infra.packaged import PROJECT

CHECKOV = PROJECT / ".venv" / "checkov" / "bin" / "checkov"


@functools.lru_cache  # about 7 s a scan; each template is scanned once
def scan(path: Path) -> dict:
    assert CHECKOV.exists(), "checkov is not installed: make checkov"
    done = subprocess.run(
        [str(CHECKOV), "--file", str(path), "--framework", "cloudformation", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def metadata_skips(template) -> dict:
    return {
        (skip["id"], name): skip.get("comment", "")
        for name, resource in template.resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }


def test_checkov_finds_nothing_unexplained(template):
    report = scan(template.path)
    assert report["summary"]["parsing_errors"] == 0
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 30  # it did scan the resources


def test_every_skip_is_in_the_template_with_a_reason(template):
    report = scan(template.path)
    skipped = {(c["check_id"], c["resource"].split(".", 1)[1]) for c in report["results"]["skipped_checks"]}
    written = metadata_skips(template)
    assert skipped == set(written)
    for (check, resource), reason in written.items():
        assert len(reason) >= 60, f"{check} on {resource}: say why it does not apply"


def test_checkov_does_fail_an_unencrypted_topic(template, tmp_path):
    data = json.loads(template.path.read_text())
    del data["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    broken = tmp_path / "sam.json"
    broken.write_text(json.dumps(data))
    failed = {(c["check_id"], c["resource"]) for c in scan(broken)["results"]["failed_checks"]}
    assert ("CKV_AWS_26", "AWS::SNS::Topic.AlarmTopic") in failed
