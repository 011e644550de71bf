"""The local stage's child processes: DynamoDB (moto) and the API each run in a process of
their own, as they are different machines in production, so they do not share one
interpreter lock with each other or with the billing functions and the page server.

A child is ready when it says so on a pipe of its own, after binding its port: a port taken
by another program fails the start instead of being mistaken for ours.
"""

import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

PROJECT = Path(__file__).resolve().parents[2]


class ChildFailed(RuntimeError):
    """A child exited or stayed silent before it was ready."""


class Child:
    def __init__(self, name: str, module: str, args: List[str]):
        self.name, self.module, self.args = name, module, args
        self.process: Optional[subprocess.Popen] = None

    def start(self, timeout_s: float = 60) -> "Child":
        """Start it and wait until it is ready; raises ChildFailed (and leaves nothing running)."""
        ready_read, ready_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args, "--ready-fd", str(ready_write)],
                cwd=PROJECT,
                stdin=subprocess.PIPE,  # its end tells the child that make run has ended
                pass_fds=(ready_write,),
                # A session of its own: Ctrl-C reaches make run only, which stops the
                # children in order (billing first, DynamoDB last).
                start_new_session=True,
            )
        finally:
            os.close(ready_write)
        try:
            readable, _, _ = select.select([ready_read], [], [], timeout_s)
            said = os.read(ready_read, 64) if readable else b""
        finally:
            os.close(ready_read)
        if said != b"ready\n":
            code = self.stop()
            why = f"exited with code {code}" if readable else f"was not ready within {timeout_s:g} s"
            raise ChildFailed(f"{self.name} {why}")
        return self

    def ask_to_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        """Until it ends, however it ends; its exit code."""
        assert self.process is not None, "not started"
        return self.process.wait()

    def stop(self, timeout_s: float = 10) -> Optional[int]:
        """SIGTERM, then SIGKILL if it has not ended within `timeout_s`; its exit code."""
        if self.process is None:
            return None
        self.ask_to_stop()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()
        return self.process.returncode
