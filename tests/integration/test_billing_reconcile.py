"""`make reconcile`: silent and 0 when the books agree; 1 and one named line per mismatch."""

import pytest

from chalicelib import reconcile
from chalicelib.services.billing import run_billing
from chalicelib.store.models import AccountItem, LedgerItem, SessionItem
from harness.billing import billed_then_ended
from harness.clock import MINUTE_MS
from harness.dynamo import add_user


@pytest.fixture
def books(api, demo, clock, store):
    """Real activity: one session billed then ended, one active and billed, one schema-1 record."""
    billed_then_ended(api, demo, clock, store, "rec-ended-1")
    api.start(demo["other"], demo["advisor"], session_id="rec-active-1")
    clock.advance(ms=2 * MINUTE_MS)
    run_billing(store, clock, lambda: 60_000, 10_000, workers=1)
    # Records of the previous release, which charged 3 minutes of each: one ended and never
    # touched since, one active, upgraded by its first poll and then billed here for 2 more.
    add_user("u-old", 0)
    SessionItem(
        "rec-legacy-1",
        user_id="u-old",
        advisor_id=demo["advisor"],
        status="ended",
        rate_per_minute=150,
        created_at=1_700_000_000.5,
        billed_minutes=3,
        charged=450,
    ).save()
    add_user("u-older", 1_000)
    SessionItem(
        "rec-legacy-2",
        user_id="u-older",
        advisor_id=demo["advisor"],
        status="active",
        rate_per_minute=150,
        created_at=(clock() - 5 * MINUTE_MS + 1) / 1000,
        billed_minutes=3,
        charged=450,
    ).save()
    api.poll("u-older", "rec-legacy-2")
    run_billing(store, clock, lambda: 60_000, 10_000, workers=1)
    assert SessionItem.get("rec-legacy-2").charged == 450 + 2 * 150
    return demo


def _main(clock, capsys, *args):
    code = reconcile.main(["--settle-seconds", "0", *args], clock=clock)
    return code, capsys.readouterr().out.splitlines()


def test_books_that_agree_exit_zero(books, clock, capsys):
    code, lines = _main(clock, capsys)
    assert code == 0
    assert lines == [lines[-1]] and "agree" in lines[-1]


def _ledger_item(session_id, first_minute, user_id, rate):
    return LedgerItem(
        session_id,
        first_minute,
        user_id=user_id,
        minutes=1,
        amount=rate,
        rate_per_minute=rate,
        charged_at_ms=1,
        charged_at="x",
        kind="billing",
    )


# Each damage touches its own item, so all of them at once must be named one by one, and
# nothing else may be.
DAMAGES = {
    ("account_debited", "u-alice"): lambda: AccountItem("u-alice").update(actions=[AccountItem.debited.add(1)]),
    ("account_negative", "u-bob"): lambda: AccountItem("u-bob").update(actions=[AccountItem.balance.set(-5)]),
    ("session_charged", "rec-active-1"): lambda: SessionItem("rec-active-1").update(
        actions=[SessionItem.charged.add(199)]
    ),
    ("session_minutes", "rec-ended-1"): lambda: SessionItem("rec-ended-1").update(
        actions=[SessionItem.billed_minutes.add(1)]
    ),
    # Minute 4 again, free: only the overlap is wrong (a legacy session: no minutes check).
    ("ledger_overlap", "rec-legacy-2"): lambda: _ledger_item("rec-legacy-2", 5, "u-older", 0).save(),
    ("ledger_orphan", "rec-gone-1"): lambda: _ledger_item("rec-gone-1", 1, "u-carl", 0).save(),
    ("stale_marker", "u-alice"): lambda: AccountItem("u-alice").update(
        actions=[AccountItem.active_session_id.set("rec-ended-1")]
    ),
    # rec-active-1 runs but no longer counts: its user could start a second session.
    ("uncounted_session", "u-bob"): lambda: AccountItem("u-bob").update(actions=[AccountItem.active_sessions.remove()]),
    # A charge of ours (account and ledger) on a record nobody upgraded: its `charged` is the
    # old release's alone, so the ledger cannot be in it.
    ("session_charged", "rec-legacy-1"): lambda: (
        _ledger_item("rec-legacy-1", 4, "u-old", 150).save(),
        AccountItem("u-old").update(actions=[AccountItem.debited.add(150)]),
    ),
    ("session_charged", "rec-legacy-2"): lambda: SessionItem("rec-legacy-2").update(
        actions=[SessionItem.legacy_charged.set(300)]
    ),
}


def test_each_mismatch_is_named_and_the_exit_is_non_zero(books, clock, capsys):
    for damage in DAMAGES.values():
        damage()
    code, lines = _main(clock, capsys)
    assert code == 1
    named = {tuple(line.split(" ", 3)[1:3]) for line in lines[:-1]}
    assert named == {(kind, key + ":") for kind, key in DAMAGES}
    assert all(line.startswith("MISMATCH ") for line in lines[:-1])
    assert lines[-1].endswith(f"{len(lines) - 1} mismatch(es)")


def test_an_active_session_billing_fell_behind_on_is_named(books, clock, capsys):
    clock.advance(ms=3 * MINUTE_MS)  # no run for three minutes: more than one run's worth
    code, lines = _main(clock, capsys, "--max-lag-minutes", "2")
    assert code == 1
    assert sorted(lines[:-1]) == [
        "MISMATCH billing_behind rec-active-1: owes 3 unbilled minutes (at most 2)",
        "MISMATCH billing_behind rec-legacy-2: owes 3 unbilled minutes (at most 2)",
    ]
    code, _ = _main(clock, capsys, "--max-lag-minutes", "3")
    assert code == 0


def test_the_default_lag_is_one_run_and_a_minute(monkeypatch):
    monkeypatch.setenv("BILLING_INTERVAL_SECONDS", "60")
    assert reconcile.default_max_lag_minutes() == 2
    monkeypatch.setenv("BILLING_INTERVAL_SECONDS", "2")
    assert reconcile.default_max_lag_minutes() == 2
    monkeypatch.setenv("BILLING_INTERVAL_SECONDS", "300")
    assert reconcile.default_max_lag_minutes() == 6


def test_a_charge_in_flight_during_the_first_read_is_not_reported(books, clock):
    # The account moved and its ledger item landed only after the first read saw the account.
    AccountItem("u-bob").update(actions=[AccountItem.debited.add(199), AccountItem.balance.add(-199)])

    def meanwhile(seconds):
        LedgerItem(
            "rec-active-1",
            4,
            user_id="u-bob",
            minutes=1,
            amount=199,
            rate_per_minute=199,
            charged_at_ms=1,
            charged_at="x",
            kind="billing",
        ).save()
        SessionItem("rec-active-1").update(actions=[SessionItem.charged.add(199), SessionItem.billed_minutes.add(1)])

    found = reconcile.reconcile(reconcile.Books(reconcile.current()), clock, max_lag_minutes=5, sleep=meanwhile)
    assert found == []


def test_unreadable_tables_exit_two_with_the_cause(dynamo, clock, capsys, monkeypatch):
    monkeypatch.setenv("SESSIONS_TABLE", "no-such-table")
    add_user("u-x", 1)
    code = reconcile.main(["--settle-seconds", "0"], clock=clock)
    assert code == 2
    assert "could not read the tables" in capsys.readouterr().err
