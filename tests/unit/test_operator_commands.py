"""The operator commands, `make backfill` and `make reconcile`, as an operator runs them: from
.venv/ops (the Lambda's packages only), with the region the AWS CLI would use and none that the
Makefile makes up, and a one-line answer when there is no region at all."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
MODULES = {"backfill": "chalicelib.legacy.backfill", "reconcile": "chalicelib.reconcile"}
ARGS = {"backfill": "--dry-run --segments 2", "reconcile": "--settle-seconds 0"}
NO_REGION = "no AWS region configured"

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def clean_env(home: Path, **extra: str) -> dict:
    """An operator's shell with no AWS configuration at all: no region, no profile, no files."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(extra)
    return env


def run_module(module: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )


# --- the commands without a region -------------------------------------------------------------


def test_the_backfill_without_a_region_says_so_in_one_line_and_exits_2(tmp_path):
    state, log = tmp_path / "var" / "state.json", tmp_path / "var" / "backfill.log"
    done = run_module(
        MODULES["backfill"], "--dry-run", "--state", str(state), "--log-file", str(log), env=clean_env(tmp_path)
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"backfill: {NO_REGION}")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "AWS_REGION" in done.stderr and "AWS_PROFILE" in done.stderr
    assert not state.exists() and not log.exists()  # it stopped before writing anything


def test_reconcile_without_a_region_says_so_in_one_line_and_exits_2(tmp_path):
    done = run_module(MODULES["reconcile"], env=clean_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"reconcile: {NO_REGION}")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_missing_profile_is_named(tmp_path):
    done = run_module(MODULES["reconcile"], env=clean_env(tmp_path, AWS_PROFILE="ops"))
    assert done.returncode == 2
    assert "profile 'ops'" in done.stderr and "Traceback" not in done.stderr


def test_the_local_stages_endpoint_needs_no_region(tmp_path):
    # Nothing listens there: it gets as far as reading the tables, in the local stage's region.
    done = run_module(MODULES["reconcile"], env=clean_env(tmp_path, DYNAMODB_ENDPOINT="http://127.0.0.1:9"))
    assert done.returncode == 2
    assert NO_REGION not in done.stderr
    assert "could not read the tables at http://127.0.0.1:9" in done.stderr


# --- the Makefile --------------------------------------------------------------------------------


def make_env() -> dict:
    """The caller's environment without a region of its own, and outside any running make (make
    test passes its flags and its exported region down to pytest)."""
    skip = {"AWS_DEFAULT_REGION", "AWS_REGION", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    return {k: v for k, v in os.environ.items() if k not in skip}


def make(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=PROJECT, env=make_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def fake_venv(tmp_path):
    """A venv whose python prints its arguments and the environment it was given."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text('#!/bin/sh\necho "ARGS $*"\nenv | sed "s/^/ENV /"\n')
    python.chmod(0o755)
    return venv


def probe(done: subprocess.CompletedProcess) -> tuple:
    lines = done.stdout.splitlines()
    args = [line[5:] for line in lines if line.startswith("ARGS ")]
    env = dict(line[4:].split("=", 1) for line in lines if line.startswith("ENV ") and "=" in line)
    return args, env


@needs_make
@pytest.mark.parametrize("target", sorted(MODULES))
def test_make_runs_the_command_with_the_ops_venvs_python(target):
    # -o: the venv counts as installed, so only the command itself is printed.
    done = make("-n", "-o", ".venv/ops/.installed-stamp", target, f"ARGS={ARGS[target]}")
    assert done.stdout.splitlines() == [f".venv/ops/bin/python -m {MODULES[target]} {ARGS[target]}"]


@needs_make
@pytest.mark.parametrize("target", sorted(MODULES))
def test_make_installs_the_ops_venv_from_requirements_ops_only(target):
    # -W: as if the lock file had just changed, so the install is printed whatever the venv holds.
    lines = make("-n", "-W", "requirements-ops.txt", target).stdout.splitlines()
    installs = [line for line in lines if "pip install" in line]
    assert installs and all(line.startswith(".venv/ops/bin/python -m pip") for line in installs)
    assert all(line.endswith("--require-hashes -r requirements-ops.txt") for line in installs)
    # never the dev venv (.venv/bin) nor its lock
    assert not any(f" {line}".count(" .venv/bin/") or "requirements-dev.txt" in line for line in lines)
    assert lines[-1].strip() == f".venv/ops/bin/python -m {MODULES[target]}"


@needs_make
@pytest.mark.parametrize("target", sorted(MODULES))
def test_make_gives_the_operator_commands_no_region_of_its_own(target, fake_venv):
    # The recipe really runs, with OPS pointing at a python that prints what make gave it.
    stamp = fake_venv / ".installed-stamp"
    args, env = probe(make("-s", "-o", str(stamp), target, f"OPS={fake_venv}", f"ARGS={ARGS[target]}"))
    assert args == [f"-m {MODULES[target]} {ARGS[target]}"]
    assert "AWS_DEFAULT_REGION" not in env and "AWS_REGION" not in env


@needs_make
def test_make_passes_the_operators_own_region_and_profile_through(fake_venv):
    stamp = fake_venv / ".installed-stamp"
    env = {**make_env(), "AWS_PROFILE": "ops", "AWS_DEFAULT_REGION": "eu-west-3"}
    done = subprocess.run(
        ["make", "-s", "-o", str(stamp), "backfill", f"OPS={fake_venv}"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    _, seen = probe(done)
    assert seen["AWS_PROFILE"] == "ops" and seen["AWS_DEFAULT_REGION"] == "eu-west-3"


@needs_make
def test_the_probe_sees_the_region_make_gives_the_local_stage(fake_venv):
    # The same probe on `make run`, which must get one: the probe would see a region if make set it.
    stamp = fake_venv / ".installed-stamp"
    args, env = probe(make("-s", "-o", str(stamp), "run", f"VENV={fake_venv}"))
    assert args == ["-m chalicelib.local"]
    assert env.get("AWS_DEFAULT_REGION") == "us-east-1"
