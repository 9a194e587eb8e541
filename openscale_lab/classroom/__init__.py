"""Classroom labs: one isolated lab per student on a shared server (their own folder, PostgreSQL schema and
ports), the JupyterHub settings that start each student's server in it, and the instructor's view of the class."""
from .classroom import Classroom, Student
from .page import class_table, progress_chart
from .progress import STAGES, class_progress, student_progress
from .roster import ClassroomError, numbered, read_roster
from .settings import CLASSROOM_ENV, CLASSROOM_JAVA_OPTIONS

__all__ = ["CLASSROOM_ENV", "CLASSROOM_JAVA_OPTIONS", "STAGES", "Classroom", "ClassroomError", "Student",
           "class_progress", "class_table", "numbered", "progress_chart", "read_roster", "student_progress"]
