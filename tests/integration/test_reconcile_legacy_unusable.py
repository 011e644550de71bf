"""`make reconcile` among schema-1 records no upgrade can use (the ones the backfill leaves
for a person): each is a finding of its own, everything else is still checked, exit 1."""

import pytest

from chalicelib import reconcile
from chalicelib.store.models import AccountItem
from harness.billing import billed_then_ended
from harness.legacy import legacy_records, put_legacy, schema1_item


@pytest.fixture
def books(api, demo, clock, store):
    """A session billed then ended, and one schema-1 record of every kind, usable or not."""
    billed_then_ended(api, demo, clock, store, "rec-ended-1")
    records = legacy_records(clock())
    put_legacy(records.values())
    return records


def _unusable(records):
    return {(r.session_id, r.problem) for r in records.values() if not r.usable}


def test_each_unusable_record_is_named_and_the_rest_still_checked(books, clock, capsys):
    AccountItem("u-alice").update(actions=[AccountItem.debited.add(1)])
    # Usable schema-1 records nobody upgraded yet owe minutes: not what this test is about.
    code = reconcile.main(["--settle-seconds", "0", "--max-lag-minutes", "60"], clock=clock)
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    found = [line.split(" ", 3)[1:] for line in lines[:-1]]
    unusable = {(key[:-1], detail) for kind, key, detail in found if kind == "legacy_record_unusable"}
    assert unusable == _unusable(books)
    others = [(kind, key[:-1]) for kind, key, _ in found if kind != "legacy_record_unusable"]
    assert others == [("account_debited", "u-alice")]
    assert lines[-1].endswith(f"{len(found)} mismatch(es)")


def test_only_unusable_records_still_exit_one(books, clock, capsys):
    code = reconcile.main(["--settle-seconds", "0", "--max-lag-minutes", "60"], clock=clock)
    assert code == 1
    assert len(capsys.readouterr().out.splitlines()) == len(_unusable(books)) + 1


def test_a_record_repaired_between_the_two_reads_is_not_reported(books, clock):
    repaired = books["no_start"]

    def meanwhile(seconds):
        put_legacy(
            [
                schema1_item(
                    repaired.session_id,
                    repaired.user_id,
                    repaired.advisor_id,
                    status="ended",
                    created_at=clock() // 1000,
                )
            ]
        )

    found = reconcile.reconcile(reconcile.Books(reconcile.current()), clock, max_lag_minutes=60, sleep=meanwhile)
    assert {m.key for m in found} == {sid for sid, _ in _unusable(books)} - {repaired.session_id}
