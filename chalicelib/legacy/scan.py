"""The backfill's reads: one segment of a parallel Scan of the sessions table, page by page.

Only schema-1 items come back (a filter; DynamoDB still reads and counts every item, which
gives the "already current" figure for free). Items stay raw so that one unreadable record
is reported by the backfill instead of stopping its segment.

Eventually consistent on purpose: a stale page can only show as schema 1 a record that was
just upgraded, and the upgrade's condition refuses to write it again.
"""

from dataclasses import dataclass
from typing import Iterator, List, Optional

import botocore.session
from botocore.config import Config

from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.session import Session
from chalicelib.settings import Settings
from chalicelib.store.failures import unavailable_on_failure
from chalicelib.store.models import SessionItem
from chalicelib.store.records import from_raw, to_session

SCHEMA1_ONLY = "attribute_not_exists(schema_version)"

# A long scan meets throttling that a request of the API would answer with 503; here waiting
# is right (adaptive mode also slows the client down), and a page that still fails stops its
# segment at its last checkpoint.
SCAN_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=5, read_timeout=30)


@dataclass(frozen=True)
class Page:
    items: List[dict]  # raw schema-1 items of this page
    scanned: int  # items DynamoDB read for this page, of either schema
    next_key: Optional[dict]  # where the segment goes on; None when it is done


class SessionScan:
    def __init__(self, settings: Settings, page_size: int = 200):
        self.table = settings.sessions_table
        self.page_size = page_size
        # botocore clients are thread-safe: one serves every segment's thread.
        self._client = botocore.session.get_session().create_client(
            "dynamodb",
            region_name=settings.connect_region(),
            endpoint_url=settings.dynamodb_endpoint,
            config=SCAN_RETRIES,
        )

    def pages(self, segment: int, total_segments: int, start_key: Optional[dict] = None) -> Iterator[Page]:
        """The pages of one segment from `start_key` (a previous page's `next_key`) on.
        A failure raises ServiceUnavailable; the caller resumes from its last `next_key`."""
        request = {
            "TableName": self.table,
            "Segment": segment,
            "TotalSegments": total_segments,
            "Limit": self.page_size,
            "FilterExpression": SCHEMA1_ONLY,
        }
        key = start_key
        while True:
            if key:
                request["ExclusiveStartKey"] = key
            with unavailable_on_failure("Scan"):
                reply = self._client.scan(**request)
            key = reply.get("LastEvaluatedKey")
            yield Page(items=reply.get("Items", []), scanned=reply.get("ScannedCount", 0), next_key=key)
            if not key:
                return

    def approximate_size(self) -> Optional[int]:
        """The table's item count as DynamoDB last published it (about every six hours):
        enough for a progress percentage, never for a decision."""
        try:
            with unavailable_on_failure("DescribeTable"):
                return int(self._client.describe_table(TableName=self.table)["Table"].get("ItemCount", 0))
        except ServiceUnavailable:  # a progress hint is not worth stopping for (it may be denied)
            return None


def read_session(raw: dict) -> Session:
    """A scanned item as a session; LegacyRecordUnusable says why it cannot be one."""
    return to_session(from_raw(SessionItem, raw))
