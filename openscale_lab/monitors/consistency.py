"""Drop in data consistency: constraints learned from the training data, and the transactions that break them.

OpenScale's definition followed here (IBM's "Drop in data consistency" metric): when drift is configured, a
schema of constraints the input data must follow is learned from the training data; each run-time transaction
that violates one or more of them is inconsistent, and the drop in data consistency is the share of
inconsistent transactions in the window. The constraint kinds are the ones OpenScale's constraints document
describes: single-column (categorical values, numeric ranges) and two-column (category combinations that
training says do not occur, the numeric range seen with a category, the range of one number seen with a range
of another).

Every constraint is learned only where the training data supports it, so that a transaction from the
training population breaks one rarely: a range is learned from at least `MIN_SUPPORT` records (a new record
from the same population falls outside the range of n records with probability 2/(n+1)), and a two-column
constraint only when it says more than the single-column ones (it excludes at least `MIN_EXCLUDED` of the
other records). `expected_inconsistent` estimates the share of training-like transactions flagged anyway.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from itertools import combinations, permutations
from typing import TYPE_CHECKING, Any

import numpy as np

from .distributions import category_codes
from .results import from_known

if TYPE_CHECKING:
    import pandas as pd

MIN_SUPPORT = 500  # records a two-column range is learned from
MIN_EXCLUDED = 0.05  # a two-column range is kept when it excludes this share of the other records
UNSEEN_MIN_EXPECTED = 5.0  # a combination never seen is a constraint when independence expects ≥ 5
RARE_MAX_COUNT = 2  # … and one seen at most twice, when independence expects ≥ 20
RARE_MIN_EXPECTED = 20.0
NUMERIC_SLICES = 4  # a number's range is learned per quartile of another number
TRAINING_RANGE = "the training range"


@dataclass
class Violation:
    """One broken constraint for a set of transactions (row positions, ascending), with the words to say it
    for one of them (`reason(row)`: made only for the transactions a run keeps, not for every one)."""

    rows: np.ndarray
    reason: Callable[[int], str]


class Reasons(Mapping[int, list[str]]):
    """Each inconsistent transaction's reasons by row position, in the order the constraints are checked; a
    consistent row has no entry."""

    def __init__(self, violations: list[Violation]) -> None:
        self._violations = violations
        rows = [v.rows for v in violations]
        self._rows = np.unique(np.concatenate(rows)) if rows else np.array([], dtype=np.int64)

    def __getitem__(self, row: int) -> list[str]:
        found = self.of(np.array([row]))[0]
        if not found:
            raise KeyError(row)
        return found

    def of(self, rows: np.ndarray) -> list[list[str]]:
        """The reasons of each of `rows` (empty for a consistent one), looked up constraint by constraint."""
        out: list[list[str]] = [[] for _ in range(len(rows))]
        for v in self._violations:
            at = np.minimum(np.searchsorted(v.rows, rows), len(v.rows) - 1)
            for k in np.flatnonzero(v.rows[at] == rows).tolist():
                out[k].append(v.reason(int(rows[k])))
        return out

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows.tolist())

    def __len__(self) -> int:
        return len(self._rows)


@dataclass
class Constraints:
    """The readable constraints document stored with the drift configuration."""

    records: int = 0
    categorical: dict[str, list[Any]] = field(default_factory=dict)
    numeric_range: dict[str, list[float]] = field(default_factory=dict)
    category_combinations: list[dict[str, Any]] = field(default_factory=list)
    category_numeric_range: list[dict[str, Any]] = field(default_factory=list)
    numeric_numeric_range: list[dict[str, Any]] = field(default_factory=list)
    expected_inconsistent: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Constraints:
        return from_known(cls, data)

    @property
    def count(self) -> int:
        return (len(self.categorical) + len(self.numeric_range) + len(self.category_combinations)
                + len(self.category_numeric_range) + len(self.numeric_numeric_range))

    # -- learning -------------------------------------------------------------------------------
    @classmethod
    def learn(cls, data: pd.DataFrame, categorical: list[str], numeric: list[str]) -> Constraints:
        """Constraints of the training data `data` over its categorical and numeric columns."""
        c = cls(records=len(data))
        for col in categorical:
            c.categorical[col] = sorted(data[col].dropna().unique().tolist(), key=str)
        for col in numeric:
            x = data[col].to_numpy(dtype=float)
            c.numeric_range[col] = [_num(np.nanmin(x)), _num(np.nanmax(x))]
        for a, b in combinations(categorical, 2):
            found = _combinations(data, a, b)
            if found:
                c.category_combinations.append({"columns": [a, b], "combinations": found})
        for cat in categorical:
            for num in numeric:
                ranges = _ranges_by(data, num, data[cat], c.numeric_range[num])
                if ranges:
                    c.category_numeric_range.append({"columns": [cat, num], "ranges": ranges})
        for x, y in permutations(numeric, 2):
            slices = _slices(data[x].to_numpy(dtype=float))
            if slices is None:
                continue
            codes = np.digitize(data[x].to_numpy(dtype=float), slices[1:-1], right=True)
            ranges = _ranges_by(data, y, codes, c.numeric_range[y])
            if ranges:
                c.numeric_numeric_range.append({"columns": [x, y], "slices": slices, "ranges": ranges})
        c.expected_inconsistent = c._expected_inconsistent(data)
        return c

    def _expected_inconsistent(self, data: pd.DataFrame) -> float:
        """Mean, over training records, of the chance that a record like it breaks a range learned from n
        records (2/(n+1) per applicable range): the share a window of training-like traffic shows anyway.
        An approximation: 2/(n+1) holds for continuous values (ties make it smaller), and the rare category
        combinations (at most `RARE_MAX_COUNT` in n) add about their own frequency."""
        risk = np.zeros(len(data))
        n = self.records
        risk += len(self.numeric_range) * 2 / (n + 1)
        for item in self.category_numeric_range:
            cat = item["columns"][0]
            for value, (_, _, support) in item["ranges"].items():
                risk += (data[cat].astype(str) == value).to_numpy() * 2 / (support + 1)
        for item in self.numeric_numeric_range:
            x = data[item["columns"][0]].to_numpy(dtype=float)
            codes = np.digitize(x, item["slices"][1:-1], right=True)
            for key, (_, _, support) in item["ranges"].items():
                risk += (codes == int(key)) * 2 / (support + 1)
        return float(np.mean(1 - np.exp(-risk)))

    # -- checking -------------------------------------------------------------------------------
    def check(self, frame: pd.DataFrame) -> tuple[np.ndarray, Reasons]:
        """Which transactions of `frame` are inconsistent, and the reasons of each inconsistent one (by row
        position, said when asked for: a window of a million records may hold a hundred thousand)."""
        found = self.violations(frame)
        bad = np.zeros(len(frame), dtype=bool)
        for v in found:
            bad[v.rows] = True
        return bad, Reasons(found)

    def violations(self, frame: pd.DataFrame) -> list[Violation]:
        out: list[Violation] = []
        codes = {col: category_codes(frame[col], values) for col, values in self.categorical.items()}
        for col, values in self.categorical.items():
            rows = np.flatnonzero(codes[col] < 0)
            if len(rows):
                seen = ", ".join(map(str, values))
                out.append(Violation(rows, lambda r, col=col, seen=seen, x=frame[col].to_numpy():
                                     f"{col}={x[r]} never occurs in training ({seen})"))
        for col, (lo, hi) in self.numeric_range.items():
            out += _range_violations(frame, col, np.zeros(len(frame), dtype=int), {"0": [lo, hi, self.records]},
                                     TRAINING_RANGE)
        for item in self.category_combinations:
            a, b = item["columns"]
            ca, cb = codes[a], codes[b]
            width = len(self.categorical[b]) + 1
            kinds = {self.categorical[a].index(x) * width + self.categorical[b].index(y): k
                     for x, y, k, _ in item["combinations"]}
            combined = ca * width + cb
            rows = np.flatnonzero(np.isin(combined, list(kinds)) & (ca >= 0) & (cb >= 0))
            if len(rows):
                out.append(Violation(rows, lambda r, a=a, b=b, va=frame[a].to_numpy(), vb=frame[b].to_numpy(),
                                     kinds=kinds, combined=combined:
                                     f"{a}={va[r]} with {b}={vb[r]} "
                                     f"{'never occurs' if kinds[combined[r]] == 'unseen' else 'is rare'} in training"))
        for item in self.category_numeric_range:
            cat, num = item["columns"]
            names = {str(v): i for i, v in enumerate(self.categorical[cat])}
            ranges = {str(names[k]): r for k, r in item["ranges"].items() if k in names}
            shown = {str(names[k]): k for k in item["ranges"] if k in names}
            out += _range_violations(frame, num, codes[cat], ranges, f"the range seen with {cat}={{key}}", shown)
        for item in self.numeric_numeric_range:
            x, y = item["columns"]
            slices = item["slices"]
            sliced = np.digitize(frame[x].to_numpy(dtype=float), slices[1:-1], right=True)
            names = {str(i): f"{_fmt(lo)}–{_fmt(hi)}" for i, (lo, hi) in enumerate(zip(slices[:-1], slices[1:]))}
            out += _range_violations(frame, y, sliced, item["ranges"], f"the range seen with {x} {{key}}", names)
        return out

    def describe(self) -> list[str]:
        """The constraints in words, one per line."""
        lines = [f"{c} is one of {', '.join(map(str, v))}" for c, v in self.categorical.items()]
        lines += [f"{c} lies in {_fmt(lo)}–{_fmt(hi)}" for c, (lo, hi) in self.numeric_range.items()]
        for item in self.category_combinations:
            a, b = item["columns"]
            lines += [f"{a}={x} with {b}={y} {'never occurs' if k == 'unseen' else 'is rare'} "
                      f"(seen {n:g} times in {self.records})" for x, y, k, n in item["combinations"]]
        for item in self.category_numeric_range:
            cat, num = item["columns"]
            lines += [f"{num} lies in {_fmt(lo)}–{_fmt(hi)} when {cat}={key} ({n} records)"
                      for key, (lo, hi, n) in item["ranges"].items()]
        for item in self.numeric_numeric_range:
            x, y = item["columns"]
            s = item["slices"]
            lines += [f"{y} lies in {_fmt(lo)}–{_fmt(hi)} when {x} is in {_fmt(s[int(k)])}–{_fmt(s[int(k) + 1])}"
                      f" ({n} records)" for k, (lo, hi, n) in item["ranges"].items()]
        return lines


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _fmt(v: float) -> str:
    return f"{v:,.0f}".replace(",", " ") if float(v).is_integer() else f"{v:,.2f}".replace(",", " ")


def _combinations(data: pd.DataFrame, a: str, b: str) -> list[list[Any]]:
    """Combinations of two categorical columns that training shows (almost) never occur although their
    single frequencies make them expected: [value a, value b, "unseen" | "rare", count]."""
    import pandas as pd

    n = len(data)
    table = pd.crosstab(data[a], data[b])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / max(n, 1)
    found = []
    for i, x in enumerate(table.index):
        for j, y in enumerate(table.columns):
            count = int(table.iat[i, j])
            if count == 0 and expected[i, j] >= UNSEEN_MIN_EXPECTED:
                found.append([x, y, "unseen", 0])
            elif 0 < count <= RARE_MAX_COUNT and expected[i, j] >= RARE_MIN_EXPECTED:
                found.append([x, y, "rare", count])
    return found


def _ranges_by(data: pd.DataFrame, num: str, groups: Any, overall: list[float]) -> dict[str, list[Any]]:
    """{group: [min, max, records]} of `num` per group with enough records, kept where the group's range
    excludes at least MIN_EXCLUDED of the other groups' records."""
    x = data[num].to_numpy(dtype=float)
    keys = np.asarray(groups).astype(str)
    out: dict[str, list[Any]] = {}
    for key in np.unique(keys):
        inside = keys == key
        support = int(inside.sum())
        if support < MIN_SUPPORT or support == len(x):
            continue
        lo, hi = float(np.nanmin(x[inside])), float(np.nanmax(x[inside]))
        others = x[~inside]
        if np.mean((others < lo) | (others > hi)) >= MIN_EXCLUDED:
            out[str(key)] = [_num(lo), _num(hi), support]
    return out


def _slices(x: np.ndarray) -> list[float] | None:
    """Quartile edges of a continuous number (None for a number with few values)."""
    if len(np.unique(x)) < np.log2(max(len(x), 2)):
        return None
    edges = np.unique(np.quantile(x, np.linspace(0, 1, NUMERIC_SLICES + 1)))
    return [_num(e) for e in edges] if len(edges) > 2 else None


def _range_violations(frame: pd.DataFrame, col: str, codes: np.ndarray, ranges: dict[str, list[Any]],
                      where: str, names: dict[str, str] | None = None) -> list[Violation]:
    """Transactions whose `col` lies outside the range learned for their group (code)."""
    x = frame[col].to_numpy(dtype=float, na_value=np.nan)
    out = []
    for key, (lo, hi, _) in ranges.items():
        mask = codes == int(key)
        low = np.flatnonzero(mask & (x < lo))
        high = np.flatnonzero(mask & (x > hi))
        label = where.format(key=(names or {}).get(key, key))
        span = f"{label} {_fmt(lo)}–{_fmt(hi)}" if label == TRAINING_RANGE else f"{_fmt(lo)}–{_fmt(hi)}, {label}"
        for rows, word in ((low, "below"), (high, "above")):
            if len(rows):
                out.append(Violation(rows, lambda r, word=word, span=span: f"{col} {_fmt(x[r])} is {word} {span}"))
    return out
