"""The Chalice app: middleware, blueprints and the billing schedule. Nothing else lives here."""

import os

from aws_lambda_powertools.logging import correlation_paths
from chalice import Chalice, Rate

from chalicelib.api import dependencies as deps
from chalicelib.api.errors import reshape_framework_error
from chalicelib.api.health import health_api
from chalicelib.api.invocation import handling_starts, within_remaining_time
from chalicelib.api.sessions import sessions_api
from chalicelib.observability import lambda_context_middleware
from chalicelib.settings import idle_seconds

# Refused at start-up (the function's init fails, loudly, on the deploy's first cold start)
# rather than at every request: a typo must not end sessions at their first poll.
idle_seconds(os.environ.get("SESSION_IDLE_SECONDS"))

app = Chalice(app_name="session-timer")

app.register_middleware(handling_starts, "http")  # first: the instant a start's timer starts
# Powertools' inject_lambda_context on every function (observability.py says how it is applied).
app.register_middleware(lambda_context_middleware(correlation_paths.API_GATEWAY_REST), "http")
app.register_middleware(lambda_context_middleware(correlation_paths.EVENT_BRIDGE), "scheduled")
app.register_middleware(lambda_context_middleware(), "sqs")


app.register_middleware(within_remaining_time, "http")


@app.middleware("http")
def project_error_bodies(event, get_response):
    return reshape_framework_error(get_response(event))


app.register_blueprint(health_api)
app.register_blueprint(sessions_api)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def bill_active_sessions(event):
    # Imported here: the API function shares this module and never bills, so its cold
    # start does not pay for the billing run's thread pool and bookkeeping.
    from chalicelib.services.schedule import scheduled_billing

    return scheduled_billing(deps.store(), deps.clock, event.context, event.event_id, deps.shard_queue())


# A placeholder: infra/resources.json points the deployed consumer at the stack's own queue.
BILLING_QUEUE_NAME = "session-timer-billing"
# Shards a worker bills at once, one thread each (docs/scaling.md has the sizing).
SHARDS_PER_WORKER = 4


@app.on_sqs_message(queue=BILLING_QUEUE_NAME, batch_size=SHARDS_PER_WORKER)
def bill_shards(event):
    from chalicelib.services.fanout import Delivery
    from chalicelib.services.schedule import queued_billing

    deliveries = [Delivery(record.to_dict()["messageId"], record.body) for record in event]
    return queued_billing(deps.store(), deps.clock, event.context, deliveries)
