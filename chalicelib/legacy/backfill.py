"""`make backfill`: upgrade every session record of the previous release (schema 1) in place.

The step after a deployment (docs/operations.md): billing finds only upgraded sessions, so an
active record that nobody polls stays unbilled until this runs. Each record gets the same
conditional write as on its first touch, so the service may run meanwhile, and a second run
finds nothing to do. The segments of a parallel Scan run on a bounded thread pool; the state
file records where each segment stands after every page, so a run that stopped (Ctrl-C, a
failure) resumes there when started again.

    python -m chalicelib.legacy.backfill --dry-run    # what it would change; writes nothing
    python -m chalicelib.legacy.backfill              # upgrade; run it again after an interruption

Progress and the summary go to the terminal; the JSON log lines (the timer line for each
upgrade, a warning for each record skipped) go to --log-file.
"""

import argparse
import contextlib
import logging
import os
import sys
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Dict, Iterator, Optional, TextIO

from chalicelib import observability
from chalicelib.clock import Clock, system_clock
from chalicelib.domain.errors import LegacyRecordUnusable
from chalicelib.legacy.checkpoint import Checkpoint, StateMismatch, Tally
from chalicelib.legacy.report import Interrupted, Outcome, Progress, describe_failure, summary
from chalicelib.legacy.rules import describe, start_problem
from chalicelib.legacy.scan import Page, SessionScan, read_session
from chalicelib.legacy.upgrade import UPGRADED, UpgradeWriter, log_skipped, upgrade
from chalicelib.settings import ConfigurationError, current, default_for_local_endpoint
from chalicelib.store.dynamo import DynamoStore

PROJECT = Path(__file__).resolve().parents[2]
# var/, not build/: `make clean` empties build/, and a resume state must outlive it.
VAR = PROJECT / "var"
DEFAULT_STATE = VAR / "backfill-state.json"
DEFAULT_DRY_RUN_STATE = VAR / "backfill-dry-run-state.json"
DEFAULT_LOG = VAR / "backfill.log"


class Backfill:
    def __init__(
        self,
        store: UpgradeWriter,
        scan: SessionScan,
        clock: Clock,
        checkpoint: Checkpoint,
        dry_run: bool,
        out: TextIO,
        progress: Progress,
    ):
        self.store, self.scan, self.clock = store, scan, clock
        self.checkpoint, self.dry_run = checkpoint, dry_run
        self.out, self.progress = out, progress
        self.stop = threading.Event()
        self._out_lock = threading.Lock()

    def run(self, workers: int) -> Outcome:
        failures: Dict[int, str] = {}
        pending = self.checkpoint.pending()
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="backfill") as pool:
            futures = {pool.submit(self._segment, s, key): s for s, key in pending.items()}
            try:
                remaining = set(futures)
                while remaining:
                    _, remaining = wait(remaining, timeout=0.5, return_when=FIRST_EXCEPTION)
                    self.progress.show()
            except KeyboardInterrupt:
                # Workers stop between two records; their pages are saved as cut short.
                self.stop.set()
        for future, segment in futures.items():
            error = future.exception()
            if error is not None:
                failures[segment] = describe_failure(error)
        self.checkpoint.finish()
        self.progress.done()
        return Outcome(self.checkpoint.totals, self.checkpoint.complete, failures, self.stop.is_set())

    def _segment(self, segment: int, start_key: Optional[dict]) -> None:
        for page in self.scan.pages(segment, self.checkpoint.total_segments, start_key):
            tally = Tally(scanned=page.scanned, legacy=len(page.items))
            try:
                self._page(page, tally)
            except BaseException:
                # Only its writes count: the page is read again on resume, where the records
                # this attempt upgraded no longer show, and every other one shows again.
                written = 0 if self.dry_run else tally.upgraded
                self.checkpoint.page_cut_short(Tally(legacy=written, upgraded=written))
                raise
            self.checkpoint.page_done(segment, tally, page.next_key)
            self.progress.show()
            if self.stop.is_set() and page.next_key:
                raise Interrupted()

    def _page(self, page: Page, tally: Tally) -> None:
        for raw in page.items:
            if self.stop.is_set():
                raise Interrupted()
            try:
                session = read_session(raw)
                if self.dry_run:
                    self._would_upgrade(session, tally)
                    continue
                outcome, _, _ = upgrade(self.store, session, self.clock)
                if outcome == UPGRADED:
                    tally.upgraded += 1
                else:
                    tally.upgraded_elsewhere += 1
            except LegacyRecordUnusable as unusable:
                tally.skip(unusable.session_id, unusable.problem)
                log_skipped(unusable)
                self._say(f"skip {unusable.session_id}: {unusable.problem}")

    def _would_upgrade(self, session, tally: Tally) -> None:
        problem = start_problem(session, self.clock())
        if problem is not None:
            raise LegacyRecordUnusable(session.session_id, problem)
        tally.upgraded += 1
        self._say(f"would upgrade {describe(session)}")

    def _say(self, line: str) -> None:
        with self._out_lock:
            self.out.write(line + "\n")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.legacy.backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    parser.add_argument("--segments", type=int, default=8, help="parallel scan segments (default 8)")
    parser.add_argument("--workers", type=int, default=4, help="threads scanning segments (default 4)")
    parser.add_argument("--page-size", type=int, default=200, help="items read per Scan request (default 200)")
    parser.add_argument("--state", type=Path, help=f"state file (default {DEFAULT_STATE.relative_to(PROJECT)})")
    parser.add_argument("--restart", action="store_true", help="ignore an unfinished run's state; scan from the start")
    parser.add_argument("--log-file", default=str(DEFAULT_LOG), help="JSON log lines go here ('-': the terminal)")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint (the local stage: http://127.0.0.1:8001)")
    args = parser.parse_args(argv)
    if args.segments < 1 or args.workers < 1 or not 1 <= args.page_size <= 10_000:
        parser.error("--segments and --workers must be >= 1, --page-size between 1 and 10000")
    if args.state is None:
        args.state = DEFAULT_DRY_RUN_STATE if args.dry_run else DEFAULT_STATE
    return args


def run(args, clock: Clock = system_clock, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The backfill as the command runs it, minus where its log lines go; the exit status."""
    settings = current()
    try:
        checkpoint = Checkpoint.open(args.state, settings.sessions_table, args.segments, args.dry_run, args.restart)
    except StateMismatch as mismatch:
        err.write(f"{mismatch}\n")
        return 2
    scan = SessionScan(settings, page_size=args.page_size)
    where = settings.dynamodb_endpoint or f"DynamoDB in {settings.region}"
    verb = "resuming" if checkpoint.resumed else "starting"
    out.write(
        f"{verb} {'a dry run' if args.dry_run else 'the backfill'} of table {settings.sessions_table!r} at {where}:"
        f" {checkpoint.total_segments} segments, {args.workers} threads, state in {args.state}\n"
    )
    out.flush()
    backfill = Backfill(
        DynamoStore(settings),
        scan,
        clock,
        checkpoint,
        args.dry_run,
        out,
        Progress(err, checkpoint, scan.approximate_size(), args.dry_run),
    )
    outcome = backfill.run(args.workers)
    out.write(summary(outcome, settings.sessions_table, args.dry_run) + "\n")
    if outcome.complete:
        return 0
    return 130 if outcome.interrupted else 1


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.endpoint_url:
        os.environ["DYNAMODB_ENDPOINT"] = args.endpoint_url
    if os.environ.get("DYNAMODB_ENDPOINT"):
        default_for_local_endpoint()
    try:
        current().connect_region()
    except ConfigurationError as error:  # before any file is written: one line, no traceback
        sys.stderr.write(f"backfill: {error}\n")
        return 2
    terminal = sys.stdout
    # Its timer lines are the service's, told apart from upgrades on first touch.
    observability.logger.append_keys(upgraded_by="backfill")
    try:
        if args.log_file == "-":
            return run(args, out=terminal)
        log_path = Path(args.log_file)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as log, _logging_to(log):
            status = run(args, out=terminal)
        terminal.write(f"log lines in {log_path}\n")
        return status
    finally:
        observability.logger.remove_keys(["upgraded_by"])


@contextlib.contextmanager
def _logging_to(stream: TextIO) -> Iterator[None]:
    """The service's logger and its EMF documents both write to stdout: here, to `stream`."""
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler), "Powertools logs through a StreamHandler"
    previous = handler.setStream(stream)
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        if previous is not None:  # None: it already wrote there
            handler.setStream(previous)


if __name__ == "__main__":
    sys.exit(main())
