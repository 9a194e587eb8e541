"""One base error for the whole lab, and the specific errors learners may meet."""
from __future__ import annotations


class LabError(Exception):
    """Base class of every error the lab raises on purpose."""


class JavaNotFoundError(LabError):
    """No usable Java runtime for Spark."""


class WorkspaceError(LabError):
    """The lab workspace is missing, unreadable or inconsistent."""


class ModelRepositoryError(LabError):
    """A model is missing from the repository or cannot be stored."""


class UnsupportedModelError(LabError):
    """A saved Spark pipeline holds a stage or setting the compiled scorer cannot reproduce."""


class ModelMismatchError(LabError):
    """The compiled scorer disagrees with Spark: the deployment must not start."""


class ScoringInputError(LabError):
    """A scoring request is malformed; the message names the field or row."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class DeploymentError(LabError):
    """A deployment could not be started, reached or stopped."""


class DataMartError(LabError):
    """The data mart cannot be reached or holds unexpected content."""


class LearningError(LabError):
    """The learning system cannot run as configured (a setting, or the feedback it would learn from)."""
