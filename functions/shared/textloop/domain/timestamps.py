"""Timestamps: the one spelling textloop writes, and the one rule for reading them.

Written: RFC 3339 in UTC with milliseconds, ``2025-11-23T02:27:03.324Z``. Fixed width, so string
order is time order (the pool's merge rule and the review deadlines compare strings).

Read: RFC 3339 with an offset (``Z`` or ``+02:00``). A time without an offset is ambiguous and
is rejected, whatever reads it: a naive ``datetime`` is a programming error (use
``datetime.now(UTC)``), a naive string is bad input.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(value: str | datetime) -> datetime:
    """An aware UTC datetime from an RFC 3339 string with an offset (or an aware datetime)."""
    if isinstance(value, datetime):
        moment = value
    else:
        if not isinstance(value, str):
            raise TypeError(f"a timestamp is a string or a datetime, got {type(value).__name__}")
        moment = datetime.fromisoformat(value.strip().replace("z", "Z").replace("t", "T"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!s} has no UTC offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-01:00 is a valid RFC 3339 string past datetime's range in UTC.
        raise ValueError(f"timestamp {value!s} is out of range") from None


def format_timestamp(value: str | datetime) -> str:
    """``value`` in the project's spelling (see the module docstring)."""
    moment = parse_timestamp(value)
    # isoformat, not strftime("%Y"): glibc writes year 999 as "999", not fixed width.
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))
