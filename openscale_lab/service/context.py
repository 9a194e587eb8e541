"""What every route of the service reads: the workspace, its data mart, its monitors, and the service's own notes.

The lab's data mart holds bindings, subscriptions, monitor configurations and measurements; what OpenScale keeps
besides them (the data mart's name, explainability instances, explanation tasks, record-storing requests) is
noted in one JSON file in the workspace.
"""
from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request

from ..core.clock import utcnow
from ..core.jsonfile import read_json, write_json_atomic
from ..datamart.database import DataMart, Subscription
from ..errors import DataMartError
from ..workspace import Workspace
from .process import folder, identity
from .resources import ApiError

if TYPE_CHECKING:
    from ..monitors.monitoring import Monitoring

NOTES_FILE = "notes.json"


class ServiceContext:
    """The workspace a service answers for, with its data mart and a `Monitoring` per subscription."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.instance_id, self.token = identity(workspace)
        self.datamart = DataMart(workspace.datamart_url)
        self._lock = threading.RLock()
        self._monitoring: dict[tuple[str, str], Monitoring] = {}
        self._notes_path = folder(workspace) / NOTES_FILE
        settings = self.notes().get("data_mart", {}).get("settings", {})
        if "created_at" not in settings:  # the data mart as OpenScale sees it: since the service first answered
            self.note("data_mart", "settings", dict(settings, created_at=utcnow().isoformat() + "Z"))

    # -- the service's own notes ----------------------------------------------------------------
    def notes(self) -> dict[str, Any]:
        with self._lock:
            return read_json(self._notes_path) if self._notes_path.is_file() else {}

    def note(self, section: str, key: str, value: Any, keep: int | None = None) -> None:
        """Keep `value` under notes[section][key] (None removes it); with `keep`, only the newest `keep` of the
        section stay."""
        with self._lock:
            notes = self.notes()
            part = notes.setdefault(section, {})
            if value is None:
                part.pop(key, None)
            else:
                part[key] = value
            if keep is not None and len(part) > keep:
                notes[section] = dict(list(part.items())[-keep:])
            write_json_atomic(self._notes_path, notes)

    def url(self, path: str) -> str:
        return f"/openscale/{self.instance_id}/v2/{path}"

    def check_data_mart(self, data_mart_id: Any, field: str = "data_mart_id") -> None:
        """A data mart id named in a request: none, or this lab's (400 if not a text, 404 if another)."""
        if data_mart_id is not None and not isinstance(data_mart_id, str):
            raise ApiError(400, f"{field} must be a text, got {data_mart_id!r}"[:200], "invalid_value", field)
        if data_mart_id is not None and data_mart_id != self.instance_id:
            raise ApiError(404, f"no data mart {data_mart_id!r}: the lab's is {self.instance_id}", "not_found", field)

    # -- the lab's objects ----------------------------------------------------------------------
    def subscription(self, subscription_id: str, field: str = "subscription_id") -> Subscription:
        try:
            sub = self.datamart.get_subscription(subscription_id)
        except DataMartError:
            raise ApiError(404, f"no subscription {subscription_id!r} in the data mart", "not_found", field) from None
        if sub.status != "active":
            raise ApiError(404, f"subscription {subscription_id!r} was deleted (its deployment is gone)", "not_found",
                           field)
        return sub

    def monitoring(self, subscription: Subscription) -> Monitoring:
        """The lab's `Monitoring` of a subscription (kept while its deployment serves the same model)."""
        from ..monitors.monitoring import Monitoring

        key = (subscription.subscription_id, subscription.model_id)
        with self._lock:
            if key not in self._monitoring:
                self._monitoring[key] = Monitoring(self.workspace, self.datamart, subscription)
            return self._monitoring[key]

    def now(self) -> datetime:
        return utcnow()


def context(request: Request) -> ServiceContext:
    """The service's context, for a route (`ctx: ServiceContext = Depends(context)`)."""
    return request.app.state.ctx  # type: ignore[no-any-return]
