"""GET /health: the local stage's route. Deployed, API Gateway answers it itself (a mock
integration in infra/resources.json, with this same body): the route needs no token, and
an open route that ran the function would let anyone spend its concurrency."""

from chalice import Blueprint

from chalicelib.api.route_options import DEPLOYED_STAGES, cors
from chalicelib.settings import current

health_api = Blueprint(__name__)
HEALTHY = {"status": "ok"}


def health():
    return HEALTHY


# Read when app.py is imported: `chalice package --stage dev|prod` leaves the route out, so
# the packaged API has no Lambda integration for it, only the template's mock.
if current().stage not in DEPLOYED_STAGES:
    health_api.route("/health", methods=["GET"], cors=cors())(health)
