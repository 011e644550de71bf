"""The seed's scenario, old flow vs new, in one run, over real HTTP on the local stage.

N pages are open at once; their loads are spread over a few seconds (LOAD_WINDOW_S), as
real users' are. The local stage is one Python process on this machine: 100 page loads
within one second saturate it (that case is what bench/load.py measures), and its queueing
would then be measured instead of the timer. Each starts its own timer at
page load, creates its session, and polls at 15 s and 30 s. The snap at a poll is the page's
own elapsed time minus the backend's `elapsed_seconds`, both taken at the instant the server
computed its answer (`server_time`; page and server share this machine's clock), and also as
a page would see it (its clock at the midpoint of the round trip). A poll "jumps back" when
snapping to the backend would move the display back a whole second or more (the seed's
bug); it "flickers" when the backend's whole seconds are merely below the page's (a few ms
behind, across a second boundary: the contract's never-smaller rule on the page absorbs that).

Old flow: the previous release wrote the record first and started its timer at the first
poll. It is emulated with schema-1 records written as that release wrote them (no
`timer_start`), the timer start written at the first poll, then read through today's API.
"""

import random
import threading
import time
import uuid
from datetime import datetime

import boto3

from bench.common import median, percentile, table
from harness.client import HttpClient
from harness.local_stage import RunningStage

ADVISOR, RATE = "demo-advisor", 199
LOAD_WINDOW_S = 5.0


def _wall_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


class _Page(threading.Thread):
    def __init__(self, flow, api, dynamo, user, poll_at, delay):
        super().__init__(daemon=True)
        self.flow, self.api, self.dynamo, self.user = flow, api, dynamo, user
        self.poll_at, self.delay = poll_at, delay
        self.session_id = f"{flow}-{uuid.uuid4().hex[:16]}"
        self.snaps, self.rtt_snaps, self.errors = [], [], []

    def _create(self):
        if self.flow == "new":
            reply = self.api.start(self.user, ADVISOR, self.session_id)
            if reply.status != 201:
                self.errors.append(reply.status)
            return
        # The previous release: the record first, no timer yet.
        self.dynamo.put_item(
            TableName="sessions",
            Item={
                "session_id": {"S": self.session_id},
                "user_id": {"S": self.user},
                "advisor_id": {"S": ADVISOR},
                "status": {"S": "active"},
                "rate_per_minute": {"N": str(RATE)},
                "created_at": {"N": repr(time.time())},
            },
        )

    def _start_old_timer(self):
        self.dynamo.update_item(
            TableName="sessions",
            Key={"session_id": {"S": self.session_id}},
            UpdateExpression="SET timer_start = :now",
            ExpressionAttributeValues={":now": {"N": repr(time.time())}},
        )

    def run(self):
        time.sleep(self.delay)
        loaded_mono, loaded_wall = time.monotonic(), time.time() * 1000
        self._create()
        for index, at in enumerate(self.poll_at):
            time.sleep(max(0.0, loaded_mono + at - time.monotonic()))
            if self.flow == "old" and index == 0:
                self._start_old_timer()
            sent = time.monotonic()
            reply = self.api.poll(self.user, self.session_id)
            received = time.monotonic()
            if reply.status != 200:
                self.errors.append(reply.status)
                continue
            backend = reply.body["elapsed_seconds"]
            page_at_server = (_wall_ms(reply.body["server_time"]) - loaded_wall) / 1000
            self.snaps.append((page_at_server, backend))
            self.rtt_snaps.append(((sent + received) / 2 - loaded_mono) - backend)


def _summary(pages):
    snaps = [page - backend for p in pages for page, backend in p.snaps]
    jumps = sum(1 for p in pages for page, backend in p.snaps if page - backend >= 1.0)
    flickers = sum(1 for p in pages for page, backend in p.snaps if int(backend) < int(page))
    abs_snaps = [abs(s) for s in snaps]
    rtt = [abs(s) for p in pages for s in p.rtt_snaps]
    return {
        "pages": len(pages),
        "polls": len(snaps),
        "errors": sum(len(p.errors) for p in pages),
        "snap_s_median": median(snaps),
        "snap_s_p99": percentile(abs_snaps, 99),
        "snap_s_max": max(abs_snaps) if abs_snaps else float("nan"),
        "snap_rtt_s_max": max(rtt) if rtt else float("nan"),
        "backward_jumps": jumps,
        "boundary_flickers": flickers,
    }


def run(quick: bool = False, pages: int = None) -> dict:
    pages = pages or (4 if quick else 50)
    poll_at = (1.5, 3.0) if quick else (15.0, 30.0)
    window = 1.0 if quick else LOAD_WINDOW_S
    stage = RunningStage(billing_interval_s=3600).start()
    try:
        dynamo = boto3.client("dynamodb", endpoint_url=stage.dynamodb_url, region_name="us-east-1")
        api = HttpClient(stage.api_url)
        # Measure a warm service (a Lambda serves most polls warm); its first request pays
        # for creating the DynamoDB client.
        api.end("demo-user", api.start("demo-user", ADVISOR).body["session_id"])
        flows = {"new": [], "old": []}
        for flow in flows:
            for i in range(pages):
                user = f"bench-{flow}-{i}"
                dynamo.put_item(TableName="accounts", Item={"user_id": {"S": user}, "balance": {"N": "100000"}})
                flows[flow].append(_Page(flow, api, dynamo, user, poll_at, delay=random.uniform(0, window)))
        everyone = flows["new"] + flows["old"]
        for page in everyone:
            page.start()
        for page in everyone:
            page.join()
    finally:
        stage.stop()
    result = {
        "poll_at_s": list(poll_at),
        "load_window_s": window,
        "new": _summary(flows["new"]),
        "old": _summary(flows["old"]),
    }
    print(
        table(
            f"seed scenario: {pages} pages per flow loaded within {window:g} s, polls at {poll_at} s "
            "(snap = page - backend, seconds)",
            [
                "flow",
                "polls",
                "errors",
                "median snap",
                "p99 |snap|",
                "max |snap|",
                "max |snap| via RTT",
                "jumps back >= 1 s",
                "flickers",
            ],
            [
                [
                    flow,
                    r["polls"],
                    r["errors"],
                    r["snap_s_median"],
                    r["snap_s_p99"],
                    r["snap_s_max"],
                    r["snap_rtt_s_max"],
                    r["backward_jumps"],
                    r["boundary_flickers"],
                ]
                for flow, r in (("old", result["old"]), ("new", result["new"]))
            ],
        )
    )
    return result


if __name__ == "__main__":
    run()
