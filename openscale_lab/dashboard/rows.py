"""A list of transactions in which every row has its own Explain button."""
from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import Any

import ipywidgets as w
import pandas as pd

BUTTON_WIDTH = "92px"
MAX_CHARS = 44  # a cell wider than this is cut, its full text in the tooltip


def cell_text(value: Any) -> str:
    """A value as a row shows it."""
    if isinstance(value, (datetime, pd.Timestamp)):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def column_widths(frame: pd.DataFrame, columns: list[str]) -> dict[str, int]:
    """Each column's width in characters: its longest text (header included), at most MAX_CHARS."""
    return {c: min(MAX_CHARS, max([len(c), *(len(cell_text(v)) for v in frame[c])])) + 2 for c in columns}


def line_html(values: list[str], widths: list[int], header: bool = False) -> str:
    """One row's cells in fixed-width spans, so that rows line up under their header."""
    weight = "font-weight:bold;" if header else ""
    cells = "".join(
        f"<span title='{html.escape(v)}' style='display:inline-block;width:{n}ch;overflow:hidden;"
        f"text-overflow:ellipsis;white-space:nowrap;vertical-align:middle;{weight}'>{html.escape(v)}</span>"
        for v, n in zip(values, widths, strict=True))
    return f"<div class='osl-cells' style='font-family:monospace;font-size:12px;white-space:nowrap'>{cells}</div>"


class ExplainableRows:
    """Up to `size` transactions, each row with an Explain button that calls `on_explain(transaction id)`.

    The row widgets are made once and filled again for every listing: moving to another hour changes their
    values, it does not send new widgets to the page.
    """

    def __init__(self, on_explain: Callable[[str], Any], size: int = 50, css_class: str = "osl-tx-row") -> None:
        self.on_explain = on_explain
        self.size = size
        self.ids: list[str | None] = [None] * size
        self.caption = w.HTML()
        self.header = w.HTML()
        self.more = w.HTML()
        shared = w.Layout(width=BUTTON_WIDTH, min_width=BUTTON_WIDTH)
        cell = w.Layout(overflow="hidden")
        self.buttons = [w.Button(description="Explain", icon="search", layout=shared) for _ in range(size)]
        self.cells = [w.HTML(layout=cell) for _ in range(size)]
        # rows keep their height (no flex shrinking) in the scrolled list, and never scroll themselves
        self.rows = [w.HBox([b, c], layout=w.Layout(display="none", flex="0 0 auto", overflow="hidden"))
                     for b, c in zip(self.buttons, self.cells, strict=True)]
        for i, (button, row) in enumerate(zip(self.buttons, self.rows, strict=True)):
            button.on_click(lambda _, i=i: self.explain_row(i))
            row.add_class(css_class)
        spacer = w.HTML(layout=w.Layout(width=BUTTON_WIDTH, min_width=BUTTON_WIDTH))
        head = w.HBox([spacer, self.header], layout=w.Layout(flex="0 0 auto", overflow="hidden"))
        listing = w.VBox([head, *self.rows], layout=w.Layout(max_height="430px", overflow="auto",
                                                             border="1px solid #ddd"))
        self.widget = w.VBox([self.caption, listing, self.more])

    def show(self, frame: pd.DataFrame, columns: list[str], caption: str) -> None:
        """List the first `size` records of `frame` (its `scoring_id` is what a row's button explains)."""
        shown = frame.head(self.size)
        columns = [c for c in columns if c in shown.columns]
        widths = column_widths(shown, columns)
        self.caption.value = caption
        self.header.value = line_html(columns, [widths[c] for c in columns], header=True)
        records = shown[columns].to_dict("records")
        ids = shown["scoring_id"].tolist() if "scoring_id" in shown else [None] * len(shown)
        for i in range(self.size):
            if i < len(records):
                self.ids[i] = str(ids[i])
                self.cells[i].value = line_html([cell_text(records[i][c]) for c in columns],
                                                [widths[c] for c in columns])
                self.buttons[i].tooltip = f"Explain transaction {ids[i]}"
                self.rows[i].layout.display = "flex"
            else:
                self.ids[i] = None
                self.rows[i].layout.display = "none"
        self.more.value = (f"<p>… and {len(frame) - self.size} more: type an id below to explain one of them.</p>"
                           if len(frame) > self.size else "")

    def explain_row(self, i: int) -> Any:
        """What clicking row `i`'s Explain button does."""
        return self.on_explain(self.ids[i]) if self.ids[i] else None
