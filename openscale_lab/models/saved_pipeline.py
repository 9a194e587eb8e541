"""Reading a saved Spark ML PipelineModel from disk, with no JVM: stage metadata (JSON) and data (Parquet)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnsupportedModelError


@dataclass
class SavedStage:
    """One stage of a saved pipeline: its Spark class, parameters and data folder."""

    class_name: str
    uid: str
    params: dict[str, Any]
    path: Path
    extra: dict[str, Any]

    @property
    def short_class(self) -> str:
        return self.class_name.rsplit(".", 1)[-1]

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def read_data(self, folder: str = "data") -> list[dict[str, Any]]:
        """Rows of the stage's Parquet data folder, as Python dicts."""
        import pyarrow.parquet as pq

        target = self.path / folder
        if not target.is_dir():
            raise UnsupportedModelError(f"{self.short_class} {self.uid}: no {folder}/ folder in {self.path}")
        return pq.read_table(str(target)).to_pylist()


def _read_metadata(folder: Path) -> dict[str, Any]:
    parts = sorted((folder / "metadata").glob("part-*"))
    if not parts:
        raise UnsupportedModelError(f"{folder} is not a saved Spark ML stage (no metadata/part-* file)")
    return json.loads(parts[0].read_text().splitlines()[0])


def read_stage(folder: Path) -> SavedStage:
    meta = _read_metadata(folder)
    params = dict(meta.get("defaultParamMap", {}))
    params.update(meta.get("paramMap", {}))
    extra = {k: v for k, v in meta.items() if k not in {"class", "uid", "paramMap", "defaultParamMap"}}
    return SavedStage(class_name=meta["class"], uid=meta["uid"], params=params, path=folder, extra=extra)


def read_pipeline(path: str | Path) -> tuple[dict[str, Any], list[SavedStage]]:
    """The pipeline's own metadata and its stages, in order."""
    root = Path(path)
    meta = _read_metadata(root)
    if meta.get("class") != "org.apache.spark.ml.PipelineModel":
        raise UnsupportedModelError(f"{root} holds a {meta.get('class')}, not a Spark PipelineModel")
    uids = meta["paramMap"]["stageUids"]
    stages = []
    for i, uid in enumerate(uids):
        folder = root / "stages" / f"{i}_{uid}"
        if not folder.is_dir():
            raise UnsupportedModelError(f"stage {i} ({uid}) is missing from {root / 'stages'}")
        stages.append(read_stage(folder))
    return meta, stages
