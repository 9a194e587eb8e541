"""Try it 00.1 · How many payload log tables does your data mart hold?

Each subscription gets a payload log table of its own, named `payload_<subscription id>`: count them.
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> int:
    datamart = lab.DataMart(workspace.datamart_url)
    tables = datamart.lab_table_names()  # the lab's tables, shared ones and per subscription
    datamart.close()
    return sum(1 for name in tables if name.startswith("payload_"))


def wrong(answer: int) -> int:
    return answer + 1


if __name__ == "__main__":
    print(lab.check.exercise_00_1(solve(lab.open_workspace())))
