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
TRAINING_DATA = "training_data.csv"  # a retrained model's own training data


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
    def refused(self) -> bool:
        """A challenger the learning system refused to deploy: kept for its lineage, never served."""
        return bool((self.metadata.get("learning") or {}).get("refused"))

    @property
    def servable(self) -> bool:
        """Trained by notebook 01, or a challenger the learning system approved."""
        learning = self.metadata.get("learning")
        return not learning or bool(learning.get("approved"))

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

    def store(self, model: PipelineModel, metadata: dict[str, Any], evaluation_data: pd.DataFrame,
              training_data: pd.DataFrame | None = None) -> StoredModel:
        """Save the Spark model, its metadata and evaluation rows; the version counts up per name.

        `training_data` (a retrained model's: the data it was built from) is kept in the model's folder and its
        `training_data_reference` points there."""
        name = metadata["name"]
        versions = self._versions()
        # the counter, or the highest stored version if a store was cut short before the counter was written
        version = max([versions.get(name, 0), *(int(m.version) for m in self.find(name))]) + 1
        model_id = uuid.uuid4().hex[:12]
        staging = self.root / f".staging-{model_id}"
        try:
            model.write().overwrite().save(str(staging / SPARK_DIR))
            evaluation_data.to_csv(staging / EVALUATION_DATA, index=False)
            full = dict(metadata, model_id=model_id, version=str(version), created_at=utcnow().isoformat())
            if training_data is not None:
                training_data.to_csv(staging / TRAINING_DATA, index=False)
                full["training_data_reference"] = {
                    "type": "file", "location": str(self.root / model_id / TRAINING_DATA), "name": TRAINING_DATA,
                    "format": "csv", "label_column": metadata["label_column"], "rows": len(training_data)}
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
        """The newest model of this name that may serve (a challenger only once the learning system approved it)."""
        found = [m for m in self.find(name) if m.servable]
        return found[-1] if found else None

    def lineage(self, model_id: str) -> list[StoredModel]:
        """The model and its ancestors (`parent_model_id` in its metadata), newest first; ancestors no longer
        in the repository end the list."""
        chain: list[StoredModel] = []
        current: str | None = model_id
        while current and current not in {m.model_id for m in chain}:
            try:
                chain.append(self.get(current))
            except ModelRepositoryError:
                break
            current = chain[-1].metadata.get("parent_model_id")
        return chain

    def versions(self, name: str) -> pd.DataFrame:
        """Every stored version of a model: when, from which parent, on what data, and what became of it."""
        import pandas as pd

        rows = []
        for m in self.find(name):
            learning = m.metadata.get("learning") or {}
            rows.append({"version": m.version, "model_id": m.model_id, "created_at": m.metadata["created_at"],
                         "parent": learning.get("parent_version"), "feedback_records": learning.get("feedback_records"),
                         "decision": learning.get("decision") if learning else "trained on the training data",
                         "refused": m.refused})
        return pd.DataFrame(rows, columns=["version", "model_id", "created_at", "parent", "feedback_records",
                                           "decision", "refused"])

    def update(self, model_id: str, **metadata: Any) -> StoredModel:
        """Set metadata entries of a stored model (its id, name and version stay), written atomically."""
        fixed = {"model_id", "name", "version", "created_at"} & set(metadata)
        if fixed:
            raise ModelRepositoryError(f"a stored model's {', '.join(sorted(fixed))} cannot change")
        model = self.get(model_id)
        write_json_atomic(model.path / METADATA_FILE, dict(model.metadata, **metadata))
        return self.get(model_id)

    def mark(self, model_id: str, **learning: Any) -> StoredModel:
        """Add to a stored model's learning record (e.g. the decision taken on it)."""
        return self.update(model_id, learning={**(self.get(model_id).metadata.get("learning") or {}), **learning})

    def delete(self, model_id: str) -> None:
        """Remove a stored model's folder (`get` checks the id first: nothing outside the repository)."""
        path = self.get(model_id).path
        shutil.rmtree(path)
