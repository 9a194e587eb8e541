"""Classrooms: one isolated lab per student on a shared server (their own folder, PostgreSQL schema and
ports), the JupyterHub settings that start each student's server in it, and the instructor's view of the class.
Names are loaded on first use, so that the command line starts without the lab's heavier parts."""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["Classroom", "Student"], "classroom"),
    **dict.fromkeys(["class_table", "progress_chart"], "page"),
    **dict.fromkeys(["STAGES", "class_progress", "student_progress"], "progress"),
    **dict.fromkeys(["ClassroomError", "numbered", "read_roster"], "roster"),
    **dict.fromkeys(["CLASSROOM_ENV", "CLASSROOM_JAVA_OPTIONS"], "settings"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'openscale_lab.classroom' has no attribute {name!r}")
