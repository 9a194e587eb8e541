"""Progress bars that read well wherever a notebook runs.

In a live Jupyter front end tqdm draws a widget. A notebook run headless (papermill in `make lab` and the
tests, nbval) saves that widget in its outputs as the text it had when first shown, "0%", which is all a
static viewer can show; there the bar is drawn as text instead, whose saved output ends at its final state.
`run_notebook` marks its kernels as headless with HEADLESS_ENV.
"""
from __future__ import annotations

import os
from typing import Any

HEADLESS_ENV = "OPENSCALE_LAB_HEADLESS"


def progress(*args: Any, **kwargs: Any) -> Any:
    """A tqdm progress bar (same arguments as tqdm): a widget in Jupyter, text when run headless."""
    if os.environ.get(HEADLESS_ENV):
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(*args, **kwargs)
