"""Self-checks for the notebooks' "Try it" exercises.

`lab.check.exercise_02_1(answer)` says whether an answer is right, or what to look at if it is not; it never
says the answer. Each check works the right answer out from the learner's own workspace (their data mart,
their model, their week), so it holds for any seed, population or parameter. The checks of notebook NN live
in `check/nbNN.py`; worked solutions are in the project's `solutions/` folder.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from .verdict import Verdict

__all__ = ["Verdict"]


def __getattr__(name: str) -> Any:
    parts = name.split("_")
    if len(parts) == 3 and parts[0] == "exercise" and parts[1].isdigit():
        try:
            module = import_module(f".nb{parts[1]}", __name__)
        except ModuleNotFoundError as missing:
            if missing.name != f"{__name__}.nb{parts[1]}":
                raise  # a module the checks need, not the checks themselves
            raise AttributeError(f"no exercise {name!r}: notebook {parts[1]} has no self-checks") from None
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module 'openscale_lab.check' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The exercises' checks too, so that tab completion lists them."""
    found = []
    for path in sorted(Path(__file__).parent.glob("nb[0-9][0-9].py")):
        module = import_module(f".{path.stem}", __name__)
        found += [n for n in vars(module) if n.startswith("exercise_")]
    return sorted([*__all__, "verdict", *found])
