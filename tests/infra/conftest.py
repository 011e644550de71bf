import pytest

from tests.infra.packaged import DEPLOYED_STAGES, Template, package

# The integration tier's fixtures (moto tables, fake clock, the API client, demo data),
# for the tests that run the code to see what it asks of DynamoDB.
from tests.integration.conftest import api, clock, demo, dynamo, store  # noqa: F401


@pytest.fixture(scope="session", params=DEPLOYED_STAGES)
def template(request) -> Template:
    return Template(package(request.param), request.param)
