"""Cold start: what importing app.py costs on top of importing its dependencies alone, and
the size of the deployment package with what dominates it.

`python -X importtime` in fresh interpreters, median of several runs; the baseline imports
the same third-party modules the app imports, so the ratio is what our own code adds.
Two interpreters differ by more than our import costs (the ratio of those medians moved from
1.0 to 1.27 between runs of the same code on the 2-core machine), so the same is also measured
within each interpreter: its dependencies, then app on top (`ours_import_ms`, `ratio_paired`).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Tuple

from bench.common import median, ratio, table

PROJECT = Path(__file__).resolve().parents[1]
DEPENDENCIES = (
    "chalice.app, pynamodb.models, pynamodb.attributes, pynamodb.indexes, pynamodb.connection, "
    "pynamodb.transactions, pynamodb.exceptions, botocore.exceptions, aws_lambda_powertools, "
    "aws_lambda_powertools.metrics, aws_lambda_powertools.logging.correlation_paths"
)
_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _top_level_import_us(statement: str, cwd: Path, write_bytecode: bool = True) -> int:
    """Sum of the cumulative times of the top-level imports a fresh interpreter makes."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    flags = [] if write_bytecode else ["-B"]
    result = subprocess.run(
        [sys.executable, *flags, "-X", "importtime", "-c", statement],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for match in _LINE.finditer(result.stderr):
        if len(match.group(3)) == 1:  # one space: imported by the statement itself
            total += int(match.group(2))
    return total


def _paired_import_s(cwd: Path) -> Tuple[float, float]:
    """(the dependencies, then app on top of them) in one fresh interpreter, in seconds: two
    processes vary by more than our import costs, one process's two parts vary together."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = (
        f"import time\nstarted = time.perf_counter()\nimport {DEPENDENCIES}\nbetween = time.perf_counter()\n"
        "import app\nprint(between - started, time.perf_counter() - between)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    dependencies_s, ours_s = map(float, result.stdout.split()[-2:])
    return dependencies_s, ours_s


def _package_figures() -> dict:
    package = PROJECT / "build" / "deployment.zip"
    if not package.exists():
        return {"deployment_zip_bytes": None, "note": "run `make package` first"}
    sizes = Counter()
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            sizes[info.filename.split("/")[0]] += info.file_size
    return {
        "deployment_zip_bytes": package.stat().st_size,
        "largest_uncompressed": dict(sizes.most_common(6)),
    }


def _app_copy(into: Path) -> Path:
    """app.py and chalicelib/ without bytecode, as `chalice package` ships them."""
    shutil.copy(PROJECT / "app.py", into / "app.py")
    shutil.copytree(PROJECT / "chalicelib", into / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def run(quick: bool = False) -> dict:
    runs = 3 if quick else 15
    with tempfile.TemporaryDirectory() as tmp:
        copy = _app_copy(Path(tmp))
        # Chalice ships our .py files without bytecode (the dependencies come with theirs),
        # so a Lambda cold start compiles them: measured with -B on a clean copy.
        compiling_us = [_top_level_import_us("import app", copy, write_bytecode=False) for _ in range(runs)]
        _top_level_import_us("import app", copy)  # writes the bytecode once
        app_us, deps_us = [], []
        for _ in range(runs):  # interleaved, so the machine's noise falls on both alike
            app_us.append(_top_level_import_us("import app", copy))
            deps_us.append(_top_level_import_us(f"import {DEPENDENCIES}", copy))
        paired = [_paired_import_s(copy) for _ in range(runs)]
    result = {
        "runs": runs,
        "app_import_ms": median(app_us) / 1000,
        "app_import_compiling_ms": median(compiling_us) / 1000,
        "dependencies_import_ms": median(deps_us) / 1000,
        # What our modules add on top of their dependencies, and that as a ratio, per interpreter.
        "ours_import_ms": median(ours for _, ours in paired) * 1000,
        "ratio_paired": median((deps + ours) / deps for deps, ours in paired),
    }
    result["ratio_compiling"] = ratio(result["app_import_compiling_ms"], result["dependencies_import_ms"])
    result["ratio"] = ratio(result["app_import_ms"], result["dependencies_import_ms"])
    result["ours_adds_pct"] = (result["ratio"] - 1) * 100
    result.update(_package_figures())
    print(
        table(
            f"cold start: import time, median of {runs} fresh interpreters",
            ["what", "ms"],
            [
                ["import app (our bytecode cached)", result["app_import_ms"]],
                ["import app (our code compiled at import, as packaged)", result["app_import_compiling_ms"]],
                ["its dependencies alone", result["dependencies_import_ms"]],
                ["ratio, cached (goal <= 1.15)", result["ratio"]],
                ["ratio, compiling", result["ratio_compiling"]],
                ["our modules on top of their dependencies, same interpreter", result["ours_import_ms"]],
                ["ratio, cached, each interpreter's own (median)", result["ratio_paired"]],
            ],
        )
    )
    if result["deployment_zip_bytes"]:
        print(
            f"deployment.zip: {result['deployment_zip_bytes'] / 1e6:.1f} MB; largest (uncompressed): "
            + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in result["largest_uncompressed"].items())
        )
    return result


if __name__ == "__main__":
    run()
