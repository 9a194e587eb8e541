"""The lab workspace: one folder holding the data mart settings, model repository and deployments."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core.jsonfile import read_json, write_json_atomic
from .errors import WorkspaceError

WORKSPACE_ENV = "OPENSCALE_LAB_WORKSPACE"
DATAMART_ENV = "OPENSCALE_LAB_DATAMART_URL"
CONFIG_FILE = "lab.json"


def resolve_workspace_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The workspace folder: `path` if given, else $OPENSCALE_LAB_WORKSPACE, else ~/openscale-lab-workspace."""
    chosen = str(path) if path else os.environ.get(WORKSPACE_ENV) or str(Path.home() / "openscale-lab-workspace")
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class Workspace:
    """A provisioned lab workspace. Use `provision()` or `Workspace.open()` to get one."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def deployments_dir(self) -> Path:
        return self.root / "deployments"

    @property
    def default_datamart_url(self) -> str:
        return f"sqlite:///{self.root / 'datamart.sqlite'}"

    @property
    def config(self) -> dict[str, Any]:
        return read_json(self.config_path)

    @property
    def datamart_url(self) -> str:
        return str(self.config["datamart_url"])

    @property
    def ports(self) -> tuple[int, int] | None:
        """The range (first, last) its servers take their ports from, if it has one (a classroom's student)."""
        found = self.config.get("ports")
        return (int(found[0]), int(found[1])) if found else None

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Workspace:
        """An existing workspace; WorkspaceError saying how to provision one if there is none."""
        root = resolve_workspace_path(path)
        if not (root / CONFIG_FILE).is_file():
            raise WorkspaceError(
                f"no lab workspace at {root}: run notebook 00_provision_services or "
                f"openscale_lab.provision({str(root)!r}) first"
            )
        return cls(root)

    def update_config(self, **changes: Any) -> None:
        config = self.config
        config.update(changes)
        write_json_atomic(self.config_path, config)
