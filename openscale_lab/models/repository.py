"""The model repository: the lab's object storage for trained Spark models and their metadata."""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.clock import utcnow
from ..core.jsonfile import read_json, write_json_atomic
from ..core.paths import child_folder
from ..errors import ModelRepositoryError
from ..workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.ml import PipelineModel

METADATA_FILE = "metadata.json"
SPARK_DIR = "spark_model"
EVALUATION_DATA = "evaluation_data.csv"


@dataclass(frozen=True)
class StoredModel:
    """A model in the repository: its folder and metadata."""

    path: Path
    metadata: dict[str, Any]

    @property
    def model_id(self) -> str:
        return str(self.metadata["model_id"])

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def spark_path(self) -> Path:
        return self.path / SPARK_DIR

    @property
    def input_schema(self) -> list[dict[str, str]]:
        return list(self.metadata["input_schema"])

    def evaluation_data(self) -> pd.DataFrame:
        """The held-out rows the model was evaluated on."""
        import pandas as pd

        return pd.read_csv(self.path / EVALUATION_DATA)


class ModelRepository:
    """Stores, lists and deletes models under `<workspace>/models/<model_id>/`."""

    def __init__(self, workspace: Workspace) -> None:
        self.root = workspace.models_dir
        self.root.mkdir(parents=True, exist_ok=True)

    def store(self, model: PipelineModel, metadata: dict[str, Any], evaluation_data: pd.DataFrame) -> StoredModel:
        """Save the Spark model, its metadata and evaluation rows; the version counts up per name."""
        name = metadata["name"]
        versions = self._versions()
        version = versions.get(name, 0) + 1
        model_id = uuid.uuid4().hex[:12]
        staging = self.root / f".staging-{model_id}"
        try:
            model.write().overwrite().save(str(staging / SPARK_DIR))
            evaluation_data.to_csv(staging / EVALUATION_DATA, index=False)
            full = dict(metadata, model_id=model_id, version=str(version), created_at=utcnow().isoformat())
            write_json_atomic(staging / METADATA_FILE, full)
            staging.rename(self.root / model_id)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        versions[name] = version
        write_json_atomic(self.root / "versions.json", versions)
        return self.get(model_id)

    def _versions(self) -> dict[str, int]:
        path = self.root / "versions.json"
        return read_json(path) if path.is_file() else {}

    def get(self, model_id: str) -> StoredModel:
        """The stored model `model_id`; an id that is not a plain folder name of the repository is refused."""
        path = child_folder(self.root, model_id, "model_id", ModelRepositoryError)
        if not (path / METADATA_FILE).is_file():
            raise ModelRepositoryError(f"no model {model_id!r} in the repository at {self.root}")
        return StoredModel(path, read_json(path / METADATA_FILE))

    def list(self) -> list[StoredModel]:
        """Every stored model, oldest first."""
        models = [StoredModel(p.parent, read_json(p)) for p in self.root.glob(f"*/{METADATA_FILE}")
                  if not p.parent.name.startswith(".")]
        return sorted(models, key=lambda m: m.metadata["created_at"])

    def find(self, name: str) -> list[StoredModel]:
        return [m for m in self.list() if m.name == name]

    def latest(self, name: str) -> StoredModel | None:
        found = self.find(name)
        return found[-1] if found else None

    def delete(self, model_id: str) -> None:
        """Remove a stored model's folder (`get` checks the id first: nothing outside the repository)."""
        path = self.get(model_id).path
        shutil.rmtree(path)
