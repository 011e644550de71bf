from chalice import Blueprint

from chalicelib.api.route_options import cors

health_api = Blueprint(__name__)


@health_api.route("/health", methods=["GET"], cors=cors())
def health():
    return {"status": "ok"}
