"""Provisioning is idempotent, keeps data unless asked, and never deletes a data mart silently."""
from __future__ import annotations

from pathlib import Path

import pytest

import openscale_lab as lab
from openscale_lab.datamart.database import DataMart
from openscale_lab.errors import DataMartError, JavaNotFoundError, WorkspaceError
from openscale_lab.models.spark import java_version
from openscale_lab.workspace import Workspace


def add_binding(ws: Workspace) -> None:
    dm = DataMart(ws.datamart_url)
    dm.ensure_binding("engine", "local", "/x")
    dm.close()


def bindings(url: str) -> int:
    dm = DataMart(url)
    try:
        return len(dm.list_bindings())
    finally:
        dm.close()


def test_first_run_creates_and_rerun_keeps(tmp_path: Path) -> None:
    first = lab.provision(tmp_path / "ws")
    assert first.created and first.datamart_url.startswith("sqlite:///")
    assert (tmp_path / "ws" / "datamart.sqlite").is_file()
    add_binding(first.workspace)
    again = lab.provision(tmp_path / "ws")
    assert not again.created and not again.reset
    assert "Kept the existing data mart" in str(again)
    assert bindings(again.datamart_url) == 1


def test_reset_empties_the_data_mart(tmp_path: Path) -> None:
    ws = lab.provision(tmp_path / "ws").workspace
    add_binding(ws)
    report = lab.provision(tmp_path / "ws", reset_data_mart=True)
    assert report.reset and bindings(ws.datamart_url) == 0


def test_switching_data_marts_keeps_the_old_one(tmp_path: Path, postgres_url: str) -> None:
    ws = lab.provision(tmp_path / "ws").workspace
    add_binding(ws)
    old_url = ws.datamart_url
    report = lab.provision(tmp_path / "ws", datamart_url=postgres_url)
    assert report.previous_datamart_url == old_url
    assert ws.datamart_url == postgres_url and ws.config["previous_datamart_urls"] == [old_url]
    assert "kept untouched" in str(report)
    assert bindings(old_url) == 1 and bindings(postgres_url) == 0


def test_workspace_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSCALE_LAB_WORKSPACE", str(tmp_path / "env-ws"))
    report = lab.provision()
    assert report.workspace.root == (tmp_path / "env-ws").resolve()


def test_opening_a_missing_workspace_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="run notebook 00_provision_services"):
        Workspace.open(tmp_path / "nothing")


def test_unreachable_data_mart_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataMartError, match="cannot reach the data mart"):
        lab.provision(tmp_path / "ws", datamart_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not (tmp_path / "ws" / "lab.json").exists()  # nothing half-provisioned


def test_missing_java_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="apt-get install openjdk-17-jre-headless"):
        java_version()


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="found Java 11"):
        java_version()
