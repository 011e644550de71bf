"""The backfill's counts and its state file: where each scan segment stands, so that an
interrupted run resumes there instead of scanning the table again.

The file is rewritten (atomically) after every page a segment finishes. A page cut short
by a failure keeps its segment's position before it, so the resumed run reads it again; of
its counts, only the upgrades it wrote are kept (the scan no longer returns those records),
so the figures of a resumed run are those of one uninterrupted run.
"""

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

FORMAT = 1
# Enough ids for a person to start from; every skipped id is also in the log.
KEPT_SKIPPED_IDS = 50


@dataclass
class Tally:
    """What one page, or the whole run, found."""

    scanned: int = 0  # items read, of either schema
    legacy: int = 0  # schema-1 items among them
    upgraded: int = 0  # written by this run (in a dry run: would be)
    upgraded_elsewhere: int = 0  # upgraded by the service between our read and our write
    reasons: Counter = field(default_factory=Counter)  # skipped: why -> how many
    skipped_ids: List[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return sum(self.reasons.values())

    @property
    def already_current(self) -> int:
        return self.scanned - self.legacy + self.upgraded_elsewhere

    def skip(self, session_id: str, reason: str) -> None:
        self.reasons[reason] += 1
        self.skipped_ids.append(session_id)

    def add(self, other: "Tally") -> None:
        for name in ("scanned", "legacy", "upgraded", "upgraded_elsewhere"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reasons.update(other.reasons)
        room = KEPT_SKIPPED_IDS - len(self.skipped_ids)
        self.skipped_ids.extend(other.skipped_ids[: max(room, 0)])

    def as_dict(self) -> dict:
        return {
            "scanned": self.scanned,
            "legacy": self.legacy,
            "upgraded": self.upgraded,
            "upgraded_elsewhere": self.upgraded_elsewhere,
            "reasons": dict(self.reasons),
            "skipped_ids": self.skipped_ids,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Tally":
        tally = cls(**{k: data[k] for k in ("scanned", "legacy", "upgraded", "upgraded_elsewhere")})
        tally.reasons.update(data.get("reasons", {}))
        tally.skipped_ids = list(data.get("skipped_ids", []))
        return tally


class StateMismatch(Exception):
    """The state file belongs to another table or mode: resuming it would skip records."""


class Checkpoint:
    """The state file: each segment's next key (a Scan's LastEvaluatedKey), whether it is
    done, and the run's counts so far. Segment threads report to it under one lock."""

    def __init__(self, path: Path, data: dict):
        self.path = Path(path)
        self._data = data
        self.totals = Tally.from_dict(data["counts"])
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, table: str, total_segments: int, dry_run: bool, restart: bool = False) -> "Checkpoint":
        """Resume the unfinished run recorded at `path`, or begin a new one (no file, the
        recorded run completed, or `restart`). A resumed run keeps its segment count."""
        path = Path(path)
        if path.exists() and not restart:
            data = json.loads(path.read_text())
            if not data.get("complete"):
                if data.get("format") != FORMAT or data.get("table") != table or data.get("dry_run") != dry_run:
                    raise StateMismatch(
                        f"{path} holds an unfinished {'dry ' if data.get('dry_run') else ''}run over table "
                        f"{data.get('table')!r}; pass --restart to begin again, or another --state"
                    )
                return cls(path, data)
        data = {
            "format": FORMAT,
            "table": table,
            "dry_run": dry_run,
            "total_segments": total_segments,
            "segments": [{"next_key": None, "done": False} for _ in range(total_segments)],
            "counts": Tally().as_dict(),
            "complete": False,
        }
        checkpoint = cls(path, data)
        checkpoint._save()
        return checkpoint

    @property
    def resumed(self) -> bool:
        return self.totals.scanned > 0 or any(s["next_key"] or s["done"] for s in self._data["segments"])

    @property
    def total_segments(self) -> int:
        return self._data["total_segments"]

    @property
    def complete(self) -> bool:
        return self._data["complete"]

    def pending(self) -> Dict[int, Optional[dict]]:
        """Segment -> the key it resumes after (None: from its start), for unfinished ones."""
        return {i: s["next_key"] for i, s in enumerate(self._data["segments"]) if not s["done"]}

    def segments_done(self) -> int:
        return sum(1 for s in self._data["segments"] if s["done"])

    def page_done(self, segment: int, tally: Tally, next_key: Optional[dict]) -> None:
        with self._lock:
            entry = self._data["segments"][segment]
            entry["next_key"], entry["done"] = next_key, next_key is None
            self._add(tally)

    def page_cut_short(self, tally: Tally) -> None:
        """What a page wrote before it failed; its segment will read that page again."""
        with self._lock:
            self._add(tally)

    def finish(self) -> None:
        with self._lock:
            self._data["complete"] = all(s["done"] for s in self._data["segments"])
            self._save()

    def _add(self, tally: Tally) -> None:
        self.totals.add(tally)
        self._data["counts"] = self.totals.as_dict()
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self._data, indent=1))
        # A crash mid-write must not leave a half file that would lose every position.
        os.replace(temporary, self.path)
