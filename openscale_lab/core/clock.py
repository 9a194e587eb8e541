"""The lab's clock: naive UTC times, as the data mart stores them."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..errors import LabError


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (the data mart stores naive UTC times)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def naive_utc(value: Any, what: str, error: type[LabError] = LabError) -> datetime:
    """`value` as the lab keeps times: a datetime in UTC without tzinfo.

    A naive datetime is taken to be UTC already (as `utcnow` makes them); an aware one is converted to UTC,
    so the same instant gives the same row whatever zone it was written in. Anything else (a string such as
    "yesterday", a date, NaT) is refused with `error`, naming `what`, before it reaches a database.
    """
    # pandas' NaT is a datetime subclass that equals nothing, itself included
    if not isinstance(value, datetime) or value != value:
        raise error(f"{what} must be a datetime (naive UTC, or with a time zone), got {value!r}")
    if value.tzinfo is not None and value.utcoffset() is not None:
        try:
            return value.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # an offset that moves it before year 1 or after 9999
            raise error(f"{what} {value.isoformat()} is outside the years a time can hold in UTC") from None
    return value.replace(tzinfo=None)


def check_window(start: Any, end: Any, error: type[LabError] = LabError) -> tuple[datetime | None, datetime | None]:
    """The window [start, end) in naive UTC; either bound may be None (open). Refused with `error` unless
    both are datetimes (or None) and start comes before end."""
    lo = None if start is None else naive_utc(start, "start", error)
    hi = None if end is None else naive_utc(end, "end", error)
    if lo is not None and hi is not None and not lo < hi:
        raise error(f"start ({lo.isoformat()}) must be before end ({hi.isoformat()})")
    return lo, hi
