"""The chat page's sync logic (web/js: never smaller, never skip, resume, retries) is
JavaScript; its tests run under node's own test runner, and `make test` runs them here."""

import re
import shutil
import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"


def test_node_tests_of_the_chat_page_pass():
    node = shutil.which("node")
    assert node, "node is needed for the chat page's tests (the machine's Node.js 20)"
    files = sorted(str(path.relative_to(WEB)) for path in (WEB / "test").glob("*.test.js"))
    assert files, "no web/test/*.test.js found"
    run = subprocess.run([node, "--test", *files], cwd=WEB, capture_output=True, text=True, timeout=120)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    # A runner that found nothing to run also exits 0: the count proves the tests ran.
    passed = re.search(r"^# pass (\d+)$", report, re.M)
    failed = re.search(r"^# fail (\d+)$", report, re.M)
    assert passed and int(passed.group(1)) >= 30 and failed and failed.group(1) == "0", report
