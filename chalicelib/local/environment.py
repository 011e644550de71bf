"""The local stage's environment, the same in each of its processes."""

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalice.config import Config

from chalicelib.local.children import PROJECT


def local_environment() -> "Config":
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
