"""The fairness monitor's window in parts: per feature, the counts its rates are made of, the outcomes per value
and the biased transactions. Parts add up, so a window evaluated in chunks or on Spark partitions gives the
same rates as the window read whole: a rate is a count over a count either way (NumPy's mean of 0/1 values is
that same division)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

COUNTS = ("monitored", "reference", "monitored_favourable", "reference_favourable", "to_monitored_favourable",
          "to_reference_favourable", "debiased_monitored_favourable", "debiased_reference_favourable")


@dataclass
class FeaturePart:
    """One protected feature over part of a window."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    # (view, value, group) -> [favourable, unfavourable]
    outcomes: dict[tuple[str, Any, str], list[int]] = field(default_factory=dict)
    biased: list[dict[str, Any]] = field(default_factory=list)  # rows of the biased transactions table

    def merge(self, other: FeaturePart) -> FeaturePart:
        out = FeaturePart({k: self.counts[k] + other.counts[k] for k in COUNTS}, dict(self.outcomes),
                          self.biased + other.biased)
        for key, (fav, unfav) in other.outcomes.items():
            had = out.outcomes.get(key, [0, 0])
            out.outcomes[key] = [had[0] + fav, had[1] + unfav]
        return out

    def rate(self, favourable: str, of: str) -> float:
        """A favourable count over the records it is of (NaN for none)."""
        return self.rate_of((favourable,), (of,))

    def rate_of(self, favourable: tuple[str, ...], of: tuple[str, ...]) -> float:
        """Summed favourable counts over summed record counts (NaN for no records)."""
        n = sum(self.counts[name] for name in of)
        return sum(self.counts[name] for name in favourable) / n if n else float("nan")

    def value_outcomes(self) -> dict[str, list[dict[str, Any]]]:
        """Outcomes per value and group, per view, ordered by value (numbers before texts)."""
        out: dict[str, list[dict[str, Any]]] = {"payload": [], "balanced": []}
        for (view, value, group), (fav, unfav) in self.outcomes.items():
            out[view].append({"value": value, "group": group, "favourable": fav, "unfavourable": unfav})
        for rows in out.values():
            rows.sort(key=lambda r: (isinstance(r["value"], str), r["value"], r["group"]))
        return out


@dataclass
class FairnessPart:
    """Every configured feature over part of a window."""

    features: dict[str, FeaturePart] = field(default_factory=dict)
    records: int = 0

    def merge(self, other: FairnessPart) -> FairnessPart:
        return FairnessPart({f: p.merge(other.features[f]) for f, p in self.features.items()},
                            self.records + other.records)


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (values are dictionary keys and stored as text)."""
    return value.item() if isinstance(value, np.generic) else value
