"""What a self-check says: right, not yet (with a hint), or not answered yet."""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any

from ..workspace import Workspace

RIGHT = "✅ Right."
NOT_YET = "❌ Not yet."
UNANSWERED = ("✏️ No answer yet: replace the `...` with your answer and run the cell again "
              "(the worked solution is in solutions/{name}.py).")


@dataclass(frozen=True)
class Verdict:
    """A check's verdict: true when the answer is right; shown in a notebook as its message."""

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:
        return self.message


def right(why: str = "") -> Verdict:
    """The answer is right; `why` says what it shows."""
    return Verdict(True, f"{RIGHT} {why}".strip())


def hint(what_to_look_at: str) -> Verdict:
    """The answer is not right; the message says where to look, never the answer."""
    return Verdict(False, f"{NOT_YET} {what_to_look_at}")


def unanswered(answer: Any, name: str) -> Verdict | None:
    """A verdict for an answer left as the notebook's placeholder (`...` or None), else None."""
    if answer is Ellipsis or answer is None:
        return Verdict(False, UNANSWERED.format(name=name))
    return None


def whole_number(answer: Any) -> int | None:
    """An answer meant as a whole number (7, 7.0, numpy's 7, "7", " -1 "), else None."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, numbers.Integral):
        return int(answer)
    if isinstance(answer, numbers.Real):
        return int(answer) if math.isfinite(float(answer)) and float(answer).is_integer() else None
    if isinstance(answer, str):
        text = answer.strip()
        digits = text[1:] if text[:1] in "+-" else text
        return int(text) if digits.isascii() and digits.isdigit() else None
    return None


def workspace_of(workspace: str | os.PathLike[str] | Workspace | None) -> Workspace:
    """The learner's workspace: the one given, else the notebooks' default ($OPENSCALE_LAB_WORKSPACE, ...)."""
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
