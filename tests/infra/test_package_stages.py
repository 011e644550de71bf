"""Only dev and prod can be packaged: the local stage has no authorizer and trusts X-User-Id,
so deployed it would let anyone act as anyone."""

import os
import subprocess

import pytest

from tests.infra.packaged import DEPLOYED_STAGES, PROJECT


def _make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(["make", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("stage", ["local", "dev prod", "", "Prod", "staging"])
def test_make_package_refuses_any_stage_but_dev_and_prod_before_packaging(stage):
    before = _built()

    done = _make("package", f"DEPLOY_STAGE={stage}")

    assert done.returncode != 0
    assert f"stage '{stage}' cannot be deployed" in done.stderr
    assert "must be one of dev prod" in done.stderr
    assert "chalice package" not in done.stdout  # refused before anything was built
    assert _built() == before


def _built():
    """What packaging writes to build/: not the logs of local stages the suite keeps running
    meanwhile (their billing goes on writing lines while this test runs)."""
    build = PROJECT / "build"
    return sorted((p.name, p.stat().st_mtime_ns) for p in build.glob("*") if p.suffix != ".log")


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_the_deployed_stages_pass_the_check(stage):
    done = _make("deployable-stage", f"DEPLOY_STAGE={stage}")
    assert done.returncode == 0, done.stderr
