"""What the backfill tells the operator: a progress line while it runs, a summary at the end."""

import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Optional, TextIO

from chalicelib.legacy.checkpoint import Checkpoint, Tally


class Interrupted(Exception):
    """Asked to stop (Ctrl-C): the segment stops between two records."""


@dataclass
class Outcome:
    totals: Tally
    complete: bool
    failures: Dict[int, str] = field(default_factory=dict)  # segment -> what stopped it
    interrupted: bool = False


class Progress:
    """One status line at most every `interval_s`: rewritten in place on a terminal."""

    def __init__(
        self, stream: TextIO, checkpoint: Checkpoint, table_size: Optional[int], dry_run: bool, interval_s: float = 1.0
    ):
        self.stream, self.checkpoint, self.table_size = stream, checkpoint, table_size
        self.upgraded = "would upgrade" if dry_run else "upgraded"
        self.interval_s = interval_s
        self._last = float("-inf")
        self._tty = hasattr(stream, "isatty") and stream.isatty()
        self._lock = threading.Lock()

    def show(self, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last < self.interval_s:
                return
            self._last = now
            t = self.checkpoint.totals
            of = f" of ~{self.table_size}" if self.table_size else ""
            line = (
                f"segments {self.checkpoint.segments_done()}/{self.checkpoint.total_segments} done"
                f" | scanned {t.scanned}{of} | schema 1: {t.legacy} | {self.upgraded} {t.upgraded}"
                f" | already current {t.already_current} | skipped {t.skipped}"
            )
            self.stream.write(("\r" + line) if self._tty else (line + "\n"))
            self.stream.flush()

    def done(self) -> None:
        self.show(force=True)
        if self._tty:
            self.stream.write("\n")


def describe_failure(error: BaseException) -> str:
    if isinstance(error, Interrupted):
        return "interrupted"
    return getattr(error, "message", None) or f"{type(error).__name__}: {error}"


def summary(outcome: Outcome, table: str, dry_run: bool) -> str:
    t = outcome.totals
    if outcome.complete:
        state = "complete (dry run: nothing was written)" if dry_run else "complete"
    elif outcome.interrupted:
        state = "interrupted: run it again to resume"
    else:
        state = "incomplete: run it again to resume"
    figures = [
        ("records scanned", t.scanned, ""),
        ("would upgrade" if dry_run else "upgraded", t.upgraded, ""),
        (
            "already current",
            t.already_current,
            f" ({t.upgraded_elsewhere} upgraded by the service while this ran)" if t.upgraded_elsewhere else "",
        ),
        ("skipped", t.skipped, ""),
    ]
    lines = [f"backfill of table {table!r}: {state}"]
    lines += [f"  {label:<17} {value}{note}" for label, value, note in figures]
    lines += [f"    {count:>6}  {reason}" for reason, count in sorted(t.reasons.items())]
    if t.skipped_ids:
        more = " ..." if t.skipped > len(t.skipped_ids) else ""
        lines.append(f"  skipped records (fix by hand, see docs/operations.md): {', '.join(t.skipped_ids)}{more}")
    lines += [f"  segment {segment} stopped: {why}" for segment, why in sorted(outcome.failures.items())]
    return "\n".join(lines)
