"""The Makefile builds every venv on the Python the functions run on (.python-version), and
says what to install when it cannot find one instead of building on another Python."""

import os
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def make(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PYTHON")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_the_python_version_is_the_lambda_runtimes():
    version = (PROJECT / ".python-version").read_text().strip()
    assert version == "3.13"
    assert 'requires-python = ">=3.13,<3.14"' in (PROJECT / "pyproject.toml").read_text()


def test_without_that_python_make_says_what_to_install_and_builds_nothing(tmp_path):
    venv = tmp_path / "venv"
    done = make("PYTHON=", f"VENV={venv}", "install")
    assert done.returncode != 0
    assert "Python 3.13 was not found" in done.stderr
    assert "pyenv install 3.13" in done.stderr
    assert not venv.exists()


def test_make_finds_a_python_313():
    done = make("--eval", "print-python: ; @echo $(PYTHON)", "print-python")
    assert done.returncode == 0, done.stderr
    found = done.stdout.strip()
    version = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == "(3, 13)"


def test_the_local_targets_get_a_region_when_the_shell_has_none_or_an_empty_one(tmp_path):
    # A venv whose "python" only prints the region `make run` hands it (its stamp is fresh,
    # so nothing is installed).
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed-stamp").touch()
    python = venv / "bin" / "python"
    python.write_text('#!/bin/sh\necho "region=[$AWS_DEFAULT_REGION]"\n')
    python.chmod(0o755)
    for shell_value, expected in ((None, "us-east-1"), ("", "us-east-1"), ("eu-west-1", "eu-west-1")):
        env = {
            k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "AWS_DEFAULT_REGION")
        }
        if shell_value is not None:
            env["AWS_DEFAULT_REGION"] = shell_value
        done = subprocess.run(
            ["make", "--no-print-directory", f"VENV={venv}", "run"],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert f"region=[{expected}]" in done.stdout, (shell_value, done.stdout)
