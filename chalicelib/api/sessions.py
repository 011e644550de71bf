"""Session routes: HTTP in, one use case, HTTP out."""

from chalice import Blueprint, Response

from chalicelib.api import dependencies as deps
from chalicelib.api.errors import JSON_HEADERS, json_errors
from chalicelib.api.identity import caller_id
from chalicelib.api.invocation import handled_at_ms
from chalicelib.api.public_path import session_location
from chalicelib.api.request_input import json_body, request_time_ms
from chalicelib.api.route_options import user_route_options
from chalicelib.domain.validation import check_path_session_id, parse_start_request
from chalicelib.services.end import end_session
from chalicelib.services.poll import poll_session
from chalicelib.services.start import start_session

sessions_api = Blueprint(__name__)
_options = user_route_options()


@sessions_api.route("/sessions", methods=["POST"], **_options)
@json_errors
def start():
    request = sessions_api.current_request
    caller = caller_id(request)
    started = start_session(
        deps.store(),
        deps.clock,
        caller,
        parse_start_request(json_body(request)),
        request_time_ms(request),
        handled_at_ms=handled_at_ms(),
    )
    # Under the stage or base path the client came through (api/public_path.py).
    location = session_location(request.context, started.view["session_id"])
    return Response(
        body=started.view,
        status_code=201 if started.created else 200,
        headers={**JSON_HEADERS, "Location": location},
    )


@sessions_api.route("/sessions/{session_id}", methods=["GET"], **_options)
@json_errors
def poll(session_id):
    caller = caller_id(sessions_api.current_request)
    return poll_session(deps.store(), deps.clock, caller, check_path_session_id(session_id))


@sessions_api.route("/sessions/{session_id}/end", methods=["POST"], **_options)
@json_errors
def end(session_id):
    caller = caller_id(sessions_api.current_request)
    return end_session(deps.store(), deps.clock, caller, check_path_session_id(session_id))
