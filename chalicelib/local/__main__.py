"""`make run`: the whole local stage in one process, stopped cleanly by Ctrl-C or SIGTERM."""

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalice.config import Config

PROJECT = Path(__file__).resolve().parents[2]


def _env_from_config() -> "Config":
    """The local stage's environment from .chalice/config.json; the caller's own environment
    (ports, table names) wins, and the DynamoDB endpoint follows DYNAMODB_PORT."""
    from chalice.cli.factory import CLIFactory

    config = CLIFactory(str(PROJECT)).create_config_obj(chalice_stage_name="local")
    # The page's origin follows WEB_PORT (tests run the stage on random ports); the config's
    # fixed origin would make every cross-origin call from such a page fail its preflight.
    # The API server also allows the page under 127.0.0.1 and [::1] (api_server.answer_origin
    # reads WEB_PORT), and CORS_ORIGIN when it is set to something else.
    web_port = os.environ.setdefault("WEB_PORT", "8002")
    os.environ.setdefault("CORS_ORIGIN", f"http://localhost:{web_port}")
    for key, value in config.environment_variables.items():
        os.environ.setdefault(key, value)
    port = int(os.environ.get("DYNAMODB_PORT", "8001"))
    os.environ["DYNAMODB_ENDPOINT"] = f"http://127.0.0.1:{port}"
    # The billing queue lives on the same moto server; botocore sends every SQS call there.
    os.environ["AWS_ENDPOINT_URL_SQS"] = f"http://127.0.0.1:{port}"
    # moto accepts any credentials; boto3 still wants some.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return config


def main() -> int:
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Block before any thread starts so every thread inherits the mask and only the main
    # thread's sigwait receives the signal. A Python signal handler would run on the main
    # thread between bytecodes, possibly while it holds a lock a stopping server needs.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    sys.path.insert(0, str(PROJECT))
    config = _env_from_config()

    from chalicelib.settings import ConfigurationError, current

    try:
        current()  # refused before anything starts: one line, no traceback
    except ConfigurationError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 2

    from chalicelib.local.stage import LocalStage

    stage = LocalStage(
        config=config,
        api_port=int(os.environ.get("PORT", "8000")),
        dynamodb_port=int(os.environ.get("DYNAMODB_PORT", "8001")),
        web_port=int(os.environ.get("WEB_PORT", "8002")),
        billing_interval_s=float(os.environ.get("BILLING_INTERVAL_SECONDS", "60")),
    )
    stage.start()
    stage.print_banner()
    received = signal.sigwait(stop_signals)
    print(f"\nstopping on {signal.Signals(received).name} ...", flush=True)
    stage.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
