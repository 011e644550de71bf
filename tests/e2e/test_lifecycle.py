"""`make run` stops cleanly on Ctrl-C or SIGTERM, leaving nothing listening."""

import signal
import socket

import pytest

from harness.local_stage import RunningStage


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly(sig):
    stage = RunningStage().start()
    ports = (stage.api_port, stage.dynamodb_port, stage.web_port)
    try:
        assert all(_listening(p) for p in ports)
        assert "demo-user" in stage.output() and "curl" in stage.output()
    finally:
        code = stage.stop(sig)  # never leave a stage behind, even when a check fails
    assert code == 0
    assert not any(_listening(p) for p in ports)
    assert "stopped" in stage.output()
