"""Running every enabled monitor of every subscription when its schedule says it is due."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta
from typing import Any

from ..core.clock import utcnow
from ..datamart.database import DataMart
from ..errors import LabError
from ..workspace import Workspace
from .base import MonitorStore
from .monitoring import Monitoring
from .registry import MONITORS
from .results import Measurement

LOG = logging.getLogger(__name__)

class Scheduler:
    """`run_pending()` evaluates what is due once; `run_forever()` loops until stopped (SIGINT/SIGTERM).

    A monitor is due when it never ran or its last window ended `schedule_hours` ago or more. Each
    measurement is written in one transaction, so stopping at any moment leaves no half-written result.
    `subscription_ids` limits it to some subscriptions (default: every active one). A subscription that
    cannot be monitored (its deployment is gone) is skipped, with the reason in `skipped`.
    """

    def __init__(self, workspace: Workspace, subscription_ids: list[str] | None = None) -> None:
        self.workspace = workspace
        self.subscription_ids = subscription_ids
        self.stop_event = threading.Event()
        self._datamart: DataMart | None = None
        self._monitoring: dict[str, Monitoring] = {}
        self.skipped: dict[str, str] = {}

    @property
    def datamart(self) -> DataMart:
        if self._datamart is None:
            self._datamart = DataMart(self.workspace.datamart_url)
        return self._datamart

    def due(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """(subscription id, monitor) pairs due at `now`."""
        now = now or utcnow()
        active = {s.subscription_id for s in self.datamart.active_subscriptions()}
        if self.subscription_ids is not None:
            active &= set(self.subscription_ids)
        found = []
        for inst in MonitorStore(self.datamart).instances():
            if inst["subscription_id"] not in active or inst["monitor"] not in MONITORS:
                continue
            hours = float(inst["schedule_hours"])
            last = inst["last_run_at"]
            if hours > 0 and (last is None or last + timedelta(hours=hours) <= now):
                found.append((inst["subscription_id"], inst["monitor"]))
        order = list(MONITORS)
        return sorted(found, key=lambda p: (p[0], order.index(p[1])))

    def use(self, monitoring: Monitoring) -> None:
        """Evaluate this subscription with an already open Monitoring (its data mart and compiled scorer)."""
        if self._datamart is None:
            self._datamart = monitoring.ctx.datamart
        self._monitoring[monitoring.subscription.subscription_id] = monitoring

    def monitoring(self, subscription_id: str) -> Monitoring:
        """The subscription's monitors, opened again when its deployment has changed model since (a redeploy
        or a rollback, by this process or another): they score with the model that serves."""
        sub = self.datamart.get_subscription(subscription_id)
        cached = self._monitoring.get(subscription_id)
        if cached is None or cached.subscription.model_id != sub.model_id:
            self._monitoring[subscription_id] = Monitoring(self.workspace, self.datamart, sub)
        return self._monitoring[subscription_id]

    def run_pending(self, now: datetime | None = None) -> list[Measurement]:
        """Evaluate every due monitor, each over its own window ending at `now`."""
        now = now or utcnow()
        results = []
        for sub_id, monitor in self.due(now):
            if self.stop_event.is_set():
                break
            if sub_id in self.skipped:
                continue
            try:
                monitoring = self.monitoring(sub_id)
            except LabError as exc:  # e.g. its deployment was removed by hand: the others still run
                self.skipped[sub_id] = str(exc)
                LOG.warning("skipping subscription %s: %s", sub_id, exc)
                continue
            results.append(monitoring.monitor(monitor).run(end=now))
        return results

    def run_forever(self, poll_seconds: float = 60.0, on_result: Any = print) -> None:
        """Poll until SIGINT/SIGTERM or `stop()`; safe to stop at any moment."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self.stop())
        try:
            while not self.stop_event.is_set():
                for m in self.run_pending():
                    on_result(m)
                self.stop_event.wait(poll_seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.close()

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        if self._datamart is not None:
            self._datamart.close()
            self._datamart = None
        self._monitoring.clear()
