"""`make run` stops cleanly on Ctrl-C or SIGTERM, leaving nothing listening, and runs as
production is laid out: DynamoDB and the API each in a process of their own."""

import os
import signal
import socket
import time
from pathlib import Path
from typing import Dict

import pytest

from harness.local_stage import RunningStage

MOTO, API = "chalicelib.local.moto_server", "chalicelib.local.api_process"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> Dict[str, int]:
    """The stage's child processes: the module each runs -> its pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # not a process, or one that ended while it was read
        if ppid == pid and b"-m" in argv:
            found[argv[argv.index(b"-m") + 1].decode()] = int(entry.name)
    return found


def _ended(pid: int, within_s: float = 10) -> bool:
    """Whether the process is gone (or a zombie nobody reaped) within `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly(sig):
    stage = RunningStage().start()
    ports = (stage.api_port, stage.dynamodb_port, stage.web_port)
    try:
        assert all(_listening(p) for p in ports)
        assert "demo-user" in stage.output() and "curl" in stage.output()
        children = _children(stage.process.pid)
    finally:
        code = stage.stop(sig)  # never leave a stage behind, even when a check fails
    assert code == 0
    assert not any(_listening(p) for p in ports)
    assert all(_ended(pid, within_s=0) for pid in children.values())
    assert "stopped" in stage.output()


def test_dynamodb_and_the_api_run_in_processes_of_their_own():
    stage = RunningStage().start()
    try:
        children = _children(stage.process.pid)
        assert set(children) == {MOTO, API}
        for module, port in ((MOTO, stage.dynamodb_port), (API, stage.api_port)):
            argv = Path(f"/proc/{children[module]}/cmdline").read_bytes().split(b"\0")
            assert str(port).encode() in argv, (module, argv)
    finally:
        stage.stop()


def test_children_end_when_make_run_is_killed():
    """SIGKILL cannot be handled: the children notice their parent's end on their stdin."""
    stage = RunningStage().start()
    children = _children(stage.process.pid)
    try:
        stage.process.kill()
        stage.process.wait()
        assert all(_ended(pid) for pid in children.values()), children
        assert not any(_listening(p) for p in (stage.api_port, stage.dynamodb_port, stage.web_port))
    finally:
        for pid in children.values():  # never leave one behind if the check fails
            if not _ended(pid, within_s=0):
                os.kill(pid, signal.SIGKILL)
        stage.stop()


def test_a_child_that_dies_ends_the_whole_stage():
    stage = RunningStage().start()
    children = _children(stage.process.pid)
    os.kill(children[MOTO], signal.SIGKILL)
    try:
        assert stage.process.wait(20) == 1
    finally:
        code = stage.stop()
    assert code == 1
    assert "exited unexpectedly" in stage.output()
    assert all(_ended(pid) for pid in children.values())
    assert not any(_listening(p) for p in (stage.api_port, stage.web_port))


def test_a_port_in_use_fails_the_start_and_leaves_nothing_running():
    stage = RunningStage()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", stage.api_port))
        taken.listen()
        with pytest.raises(RuntimeError, match="exited early"):
            stage.start()
        assert stage.process.returncode == 1
        assert f"API on 127.0.0.1:{stage.api_port} exited" in stage.output()
    assert not _listening(stage.dynamodb_port)
    assert not _listening(stage.web_port)
