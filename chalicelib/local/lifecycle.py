"""How every process of the local stage is told to stop, and how a child says it is ready.

The stop signals are blocked before any thread starts, so every thread inherits the mask and
only the main thread's `sigwait` receives them: a Python signal handler would run on the main
thread between bytecodes, possibly while it holds a lock a stopping server needs.
"""

import os
import signal
import sys
import threading

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def block_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def wait_for_stop(watch_parent: bool = False) -> signal.Signals:
    """Block until SIGINT or SIGTERM. With `watch_parent`, also when standard input reaches
    its end: a child's stdin is a pipe from `make run`, which closes when it ends in any way,
    SIGKILL included, so no child is left listening behind it."""
    if watch_parent:
        threading.Thread(target=_stop_when_parent_ends, name="parent-watch", daemon=True).start()
    return signal.Signals(signal.sigwait(STOP_SIGNALS))


def _stop_when_parent_ends() -> None:
    # The raw fd, not sys.stdin: a daemon thread blocked in a buffered read aborts the
    # interpreter's shutdown ("could not acquire lock for <stdin>").
    while os.read(0, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def announce_ready(fd: int) -> None:
    """Tell the parent this child serves (its socket is bound): one line on the fd it passed."""
    os.write(fd, b"ready\n")
    os.close(fd)


def serve_as_child(description: str, serve, argv=None) -> int:
    """A child's main: `serve(host, port)` binds and starts serving on threads and returns a
    function that stops it; the child says it is ready, then waits to be stopped."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, help="the pipe on which to say 'ready' (chalicelib/local/children.py)")
    args = parser.parse_args(argv)
    block_stop_signals()
    try:
        stop = serve(args.host, args.port)
    except OSError as error:  # the port is taken, most often: one line, the parent says who
        print(f"cannot serve on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr, flush=True)
        return 1
    if args.ready_fd is not None:
        announce_ready(args.ready_fd)
    wait_for_stop(watch_parent=args.ready_fd is not None)
    stop()
    return 0
