"""Self-checks of notebook 00 (provisioning)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..datamart.database import DataMart
from ..datamart.tables import PAYLOAD_PREFIX
from ..errors import WorkspaceError
from ..workspace import Workspace
from .verdict import Verdict, hint, right, unanswered, whole_number, workspace_of


def exercise_00_1(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """How many payload log tables does the data mart hold?"""
    if (verdict := unanswered(answer, "exercise_00_1")) is not None:
        return verdict
    count = whole_number(answer)
    if count is None:
        return hint("answer with a whole number of tables")
    datamart = DataMart(workspace_of(workspace).datamart_url)
    try:
        tables = [n for n in datamart.lab_table_names() if n.startswith(PAYLOAD_PREFIX)]
    finally:
        datamart.close()
    if count == len(tables):
        return right("each subscription has a payload log table of its own, named payload_<subscription id>.")
    return hint("list the data mart's tables (datamart.lab_table_names()) and count those whose name starts with "
                f"{PAYLOAD_PREFIX!r}.")


def exercise_00_2(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """Provision a second workspace elsewhere; answer with its folder."""
    if (verdict := unanswered(answer, "exercise_00_2")) is not None:
        return verdict
    if not isinstance(answer, str | os.PathLike):
        return hint("answer with the folder of the workspace you provisioned, as text or a Path")
    yours = workspace_of(workspace)
    try:
        other = Workspace.open(Path(answer).expanduser())
    except WorkspaceError:
        return hint("there is no lab workspace in that folder yet: provision it with lab.provision(folder) first.")
    if other.root.resolve() == yours.root.resolve():
        return hint("that is the workspace this notebook uses: give lab.provision another folder.")
    if other.datamart_url == yours.datamart_url:
        return hint("that workspace shares your data mart: give lab.provision a data mart URL of its own, e.g. "
                    "f\"sqlite:///{folder}/datamart.sqlite\" (without one it takes $OPENSCALE_LAB_DATAMART_URL "
                    "when that is set).")
    return right("a workspace is a folder with its own data mart, models and deployments; nothing in one touches "
                 "another.")
