"""Try it 00.2 · Provision a second, throwaway workspace in another folder and answer with its folder.

`lab.provision(folder)` creates a workspace there, with its own SQLite data mart, model repository and ML
engine. Nothing you do in it touches your own workspace: that is how a classroom gives each student a lab.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> str:
    folder = Path(tempfile.mkdtemp(prefix="my-second-lab-"))
    # a data mart of its own: an SQLite file inside the folder (that is also the default, unless
    # $OPENSCALE_LAB_DATAMART_URL names a shared one)
    report = lab.provision(folder, f"sqlite:///{folder / 'datamart.sqlite'}")
    print(report)
    return str(report.workspace.root)


def wrong(answer: str) -> str:
    return str(Path(answer) / "not-provisioned")


if __name__ == "__main__":
    print(lab.check.exercise_00_2(solve(lab.open_workspace())))
