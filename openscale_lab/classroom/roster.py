"""A class's students: names from a roster file or numbered, each checked as a name JupyterHub, PostgreSQL and the
file system all take as it is."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from ..errors import LabError

# lower case as JupyterHub normalises user names; a letter first and at most 32 characters, so that the name
# is also a PostgreSQL identifier without quoting (with the class's prefix) and a folder name
STUDENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class ClassroomError(LabError):
    """A classroom command that cannot be carried out; the message says why and what to do."""


def check_name(name: str, where: str = "") -> str:
    """`name` if it is a valid student name, else ClassroomError naming it (and `where` it came from)."""
    if not STUDENT_NAME.match(name):
        raise ClassroomError(f"{where}student name {name!r}: use 1-32 lower-case letters, digits or _, "
                             "starting with a letter (e.g. 'alice' or 'student01')")
    return name


def numbered(count: int) -> list[str]:
    """student001, student002, ... (`count` of them, 1 to 999; three digits whatever the count, so that a
    class made again with more students keeps its names)."""
    if not 1 <= count <= 999:
        raise ClassroomError(f"--students: a class has 1 to 999 students, got {count}")
    return [f"student{i:03d}" for i in range(1, count + 1)]


def read_roster(path: str | Path) -> list[str]:
    """The names in a roster file: one per line, or a CSV whose header has a `student` (or `username`) column.
    Blank lines and lines starting with # are skipped; a bad or repeated name is refused with its line."""
    path = Path(path)
    if not path.is_file():
        raise ClassroomError(f"--roster: no file {path}")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a spreadsheet's byte order mark
    except UnicodeDecodeError as exc:
        raise ClassroomError(f"--roster {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows = [(i, line.strip()) for i, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise ClassroomError(f"--roster {path}: no student names in it")
    header = next(csv.reader([rows[0][1]]))
    column = next((i for i, h in enumerate(header) if h.strip().lower() in ("student", "username")), None)
    if column is not None:
        rows = [(i, next(csv.reader([line]))[column].strip() if len(next(csv.reader([line]))) > column else "")
                for i, line in rows[1:]]
    names: list[str] = []
    for i, name in rows:
        check_name(name, f"--roster {path}, line {i}: ")
        if name in names:
            raise ClassroomError(f"--roster {path}, line {i}: student {name!r} is named twice")
        names.append(name)
    return names
