"""The lab's clock: naive UTC times, as the data mart stores them."""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (the data mart stores naive UTC times)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
