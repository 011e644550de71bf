"""Epoch milliseconds and their ISO 8601 twins (what an admin reads in the console)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Optional, Union, overload

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@overload
def iso_ms(epoch_ms: int) -> str: ...
@overload
def iso_ms(epoch_ms: None) -> None: ...
@overload
def iso_ms(epoch_ms: Optional[int]) -> Optional[str]: ...


def iso_ms(epoch_ms: Optional[int]) -> Optional[str]:
    """2026-11-27T20:08:23.123Z; exact (no float round trip), None stays None."""
    if epoch_ms is None:
        return None
    moment = _EPOCH + timedelta(milliseconds=int(epoch_ms))
    if moment.year < 1000:  # strftime's %Y writes these years unpadded: as they always read
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    # A view holds three of these: isoformat costs half of strftime ("+00:00" becomes "Z").
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def day_of(epoch_ms: int) -> str:
    """The UTC day, the partition of the sessions-by-day index."""
    return (_EPOCH + timedelta(milliseconds=int(epoch_ms))).strftime("%Y-%m-%d")


def seconds_to_ms(epoch_seconds: Union[int, float, Decimal, str]) -> int:
    """Schema-1 records hold epoch seconds, sometimes fractional; Decimal keeps them exact."""
    return int((Decimal(str(epoch_seconds)) * 1000).to_integral_value(rounding="ROUND_HALF_UP"))
