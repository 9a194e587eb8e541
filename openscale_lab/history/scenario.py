"""The scenario of the replayed week: the traffic (how many apply, who applies) and the world (who turns out to
be a bad risk, who takes up a loan). It shapes what happens, never what the monitors measure."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..errors import LabError
from ..tutorial import FEATURE_COLUMNS


class ScenarioError(LabError):
    """A scenario setting the replay could not use."""



@dataclass
class Scenario:
    """Everything that makes the week's story, in story time: day 0 starts when the week starts, and hour
    `h` of the week is hour `h % 24` of day `h // 24`, whatever the wall clock (so a rerun is the same week)."""

    days: float = 7.0
    # traffic: applications per hour, min_records + (max_records - min_records) x a share that is 0.1 at night
    # (about 55 an hour) and near 1 at the afternoon peak; about 3 100 a day, near the tutorial's scale (its KPI
    # limits, 2 150 accepted credits and 5.5 M granted a day, fit about 2 900)
    min_records: int = 35
    max_records: int = 245
    batch_size: int = 50
    # labels: the share of transactions whose true outcome comes back as feedback, linked by transaction id,
    # and how many hours after scoring it arrives
    feedback_share: float = 0.5
    feedback_delay_hours: int = 2
    # population change (fairness): from bias_start_day a partner's campaign brings extra female applicants
    # from a part of the feed the model mostly refuses (no checking account, employed over 7 years, housing
    # free: `replay.RISKY_APPLICANTS`), growing to
    # bias_peak_share extra applicants per female applicant of the hour (at most one each)
    bias_start_day: float = 2.0
    bias_peak_day: float = 4.5
    bias_peak_share: float = 0.8
    # concept drift (the world changes, the applicants do not): from concept_shift_day the odds that an
    # applicant of the segment turns out a bad risk are multiplied by concept_shift_odds
    concept_shift_day: float = 3.0
    concept_segment: dict[str, list[Any]] = field(default_factory=lambda: {"ExistingSavings": ["less_100"]})
    concept_shift_odds: float = 25.0
    # data drift (covariate shift): from drift_start_day, reaching drift_peak_share on drift_peak_day, a growing
    # share of applicants commits a larger share of income to installments (rates went up); the tutorial's
    # own drift, larger loans and older applicants, is there to try (loan_amount_factor, age_shift)
    drift_start_day: float = 5.0
    drift_peak_day: float = 6.0
    drift_peak_share: float = 0.6
    installment_shift: int = 2
    loan_amount_factor: float = 1.0
    age_shift: int = 0
    # a latency spike one afternoon: that traffic arrives in a few very large requests
    spike_day: int = 3
    spike_hours: tuple[int, int] = (14, 17)
    spike_batch_size: int = 5000
    # the business process: an approved applicant takes up the loan with probability take_up; on
    # take_up_dip_day a competitor's offer lowers it to take_up_dip (a KPI breach the model did not cause)
    take_up: float = 0.95
    take_up_dip_day: int = 5
    take_up_dip: float = 0.75

    def __post_init__(self) -> None:
        """Refuse, naming the setting, what the replay could not use."""
        def number(name: str, low: float, high: float = math.inf, whole: bool = False) -> None:
            value = getattr(self, name)
            kinds = (int, np.integer) if whole else (int, float, np.integer, np.floating)
            if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
                kind = "a whole number" if whole else "a number"
                raise ScenarioError(f"scenario setting {name} must be {kind} from {low:g} to {high:g}, got {value!r}")

        number("days", 1 / 24, 366)
        for name in ("min_records", "max_records", "batch_size", "spike_batch_size"):
            number(name, 1, 10_000, whole=True)
        if self.max_records < self.min_records:
            raise ScenarioError(f"scenario setting max_records ({self.max_records}) must be at least min_records "
                                f"({self.min_records})")
        for name in ("feedback_share", "take_up", "take_up_dip", "drift_peak_share", "bias_peak_share"):
            number(name, 0, 1)
        number("feedback_delay_hours", 0, 24 * 366, whole=True)
        for name in ("bias_start_day", "bias_peak_day", "concept_shift_day", "drift_start_day", "drift_peak_day"):
            number(name, 0, 366)
        for name in ("spike_day", "take_up_dip_day"):
            number(name, -1, 366, whole=True)
        number("concept_shift_odds", 1e-6, 1e6)
        number("loan_amount_factor", 0, 100)
        for name in ("installment_shift", "age_shift"):
            number(name, -100, 100, whole=True)
        hours = tuple(self.spike_hours) if isinstance(self.spike_hours, (list, tuple)) else ()
        if len(hours) != 2 or not all(isinstance(h, int) and 0 <= h <= 24 for h in hours):
            raise ScenarioError(f"scenario setting spike_hours must be two hours of the day, [from, to), got "
                                f"{self.spike_hours!r}")
        self.spike_hours = (hours[0], hours[1])
        if not isinstance(self.concept_segment, dict) or not all(
                isinstance(k, str) and isinstance(v, (list, tuple)) for k, v in self.concept_segment.items()):
            raise ScenarioError(f"scenario setting concept_segment must map input columns to lists of values, got "
                                f"{self.concept_segment!r}")
        unknown = sorted(set(self.concept_segment) - set(FEATURE_COLUMNS))
        if unknown:
            raise ScenarioError(f"scenario setting concept_segment: {', '.join(unknown)} is not an input column "
                                f"({', '.join(FEATURE_COLUMNS)})")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Scenario:
        if values is not None and not isinstance(values, dict):
            raise ScenarioError(f"a scenario is a dict of settings, got {values!r}")
        known = {f.name for f in fields(cls)}
        unknown = set(values or {}) - known
        if unknown:
            raise ScenarioError(f"unknown scenario setting(s): {', '.join(sorted(unknown))}; known: "
                                f"{', '.join(sorted(known))}")
        return cls(**(values or {}))

    @property
    def hours(self) -> int:
        return int(round(self.days * 24))

    def volume(self, hour_of_day: int, rng: np.random.Generator) -> int:
        """Applications in an hour: low at night, peaking in the afternoon, with some noise."""
        daylight = max(0.0, math.sin(math.pi * (hour_of_day - 6) / 16)) if 6 <= hour_of_day <= 22 else 0.0
        share = 0.1 + 0.9 * daylight * rng.uniform(0.9, 1.0)
        return int(round(self.min_records + (self.max_records - self.min_records) * min(share, 1.0)))

    def bias_share(self, day: float) -> float:
        """Extra risky female applicants per female applicant of the hour."""
        if day < self.bias_start_day:
            return 0.0
        span = max(self.bias_peak_day - self.bias_start_day, 1e-9)
        return self.bias_peak_share * min(1.0, (day - self.bias_start_day) / span)

    def drift_level(self, day: float) -> float:
        """Share of applicants moved by the data drift (installment share, and loan amount and age if set)."""
        if day < self.drift_start_day:
            return 0.0
        span = max(self.drift_peak_day - self.drift_start_day, 1e-9)
        return self.drift_peak_share * min(1.0, (day - self.drift_start_day) / span)

    def concept_odds(self, day: float) -> float:
        """The factor on the segment's odds of a bad risk."""
        return self.concept_shift_odds if day >= self.concept_shift_day else 1.0

    def take_up_rate(self, day: float) -> float:
        return self.take_up_dip if int(day) == self.take_up_dip_day else self.take_up

    def spike(self, hour: int) -> bool:
        return hour // 24 == self.spike_day and self.spike_hours[0] <= hour % 24 < self.spike_hours[1]
