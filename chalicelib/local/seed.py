"""Demo data of the local stage (docs/contract.md): a user with 10000 units, an advisor at 199 a minute."""

from chalicelib.store.models import AccountItem, AdvisorItem

DEMO_USER = "demo-user"
DEMO_BALANCE = 10_000
DEMO_ADVISOR = "demo-advisor"
DEMO_RATE = 199


def seed_demo() -> str:
    AccountItem(DEMO_USER, balance=DEMO_BALANCE, debited=0).save()
    AdvisorItem(DEMO_ADVISOR, rate_per_minute=DEMO_RATE, display_name="Demo Advisor").save()
    return (
        f"demo data: user {DEMO_USER} with {DEMO_BALANCE} units, advisor {DEMO_ADVISOR} at {DEMO_RATE} units per minute"
    )
