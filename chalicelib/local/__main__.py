"""`make run`: the whole local stage (three processes: chalicelib/local/stage.py), stopped
cleanly by Ctrl-C or SIGTERM."""

import os
import sys

from chalicelib.local.children import PROJECT
from chalicelib.local.lifecycle import block_stop_signals, wait_for_stop


def main() -> int:
    block_stop_signals()  # before any thread starts (lifecycle.py says why)
    sys.path.insert(0, str(PROJECT))
    from chalicelib.local.environment import local_environment

    local_environment()  # every process of the stage inherits it

    from chalicelib.settings import ConfigurationError, current

    try:
        current()  # refused before anything starts: one line, no traceback
    except ConfigurationError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 2

    from chalicelib.local.stage import LocalStage

    stage = LocalStage(
        api_port=int(os.environ.get("PORT", "8000")),
        dynamodb_port=int(os.environ.get("DYNAMODB_PORT", "8001")),
        web_port=int(os.environ.get("WEB_PORT", "8002")),
        billing_interval_s=float(os.environ.get("BILLING_INTERVAL_SECONDS", "60")),
    )
    from chalicelib.local.children import ChildFailed

    try:
        stage.start()
    except ChildFailed as failed:  # a port in use, say: the child said why on stderr
        print(f"make run: {failed}", file=sys.stderr)
        stage.stop()
        return 1
    except BaseException:
        stage.stop()  # nothing left listening
        raise
    stage.print_banner()
    received = wait_for_stop()
    print(f"\nstopping on {received.name} ...", flush=True)
    stage.stop()
    print("stopped", flush=True)
    return 1 if stage.failure else 0


if __name__ == "__main__":
    sys.exit(main())
