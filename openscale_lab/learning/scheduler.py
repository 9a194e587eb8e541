"""The scheduler with the learning loop closed: a quality alert runs the deployment's learning system."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ..core.clock import utcnow
from ..monitors.results import Measurement
from ..monitors.scheduler import Scheduler
from ..workspace import Workspace
from .system import LearningRun, LearningSystem

LOG = logging.getLogger(__name__)


class LearningScheduler(Scheduler):
    """Runs the due monitors; when a quality measurement raises an alert and the subscription's deployment has
    a configured learning system, runs one iteration of it (`openscale-lab scheduler --learn-on-alert`).
    Each iteration is in `runs`; one that cannot run is logged and the monitors go on."""

    def __init__(self, workspace: Workspace, subscription_ids: list[str] | None = None,
                 on_learning: Any = None) -> None:
        super().__init__(workspace, subscription_ids)
        self.runs: list[LearningRun] = []
        self.on_learning = on_learning

    def run_pending(self, now: datetime | None = None) -> list[Measurement]:
        now = now or utcnow()
        results = super().run_pending(now)
        for m in results:
            if m.monitor == "quality" and m.alerts:
                self._learn(m.subscription_id, now)
        return results

    def _learn(self, subscription_id: str, now: datetime) -> None:
        sub = self.datamart.get_subscription(subscription_id)
        try:
            system = LearningSystem(self.workspace, sub.deployment_id)
            if not system.is_configured:
                return
            if system.config.source != "live":  # a live alert: the live feedback, never a replayed story's
                LOG.warning("learning system of %s reads the %s feedback: a live quality alert does not run it",
                            sub.deployment_name, system.config.source)
                return
            run = system.run(until=now, progress=False)
        except Exception as exc:  # the monitors go on whatever happened to the learning system
            LOG.warning("learning system of %s did not run: %s", sub.deployment_name, exc)
            return
        self.runs.append(run)
        if run.deployed:  # the next evaluation opens the monitors again, with the new model's scorer (the data
            self._monitoring.pop(subscription_id, None)  # mart they share stays open)
        if self.on_learning is not None:
            self.on_learning(run)
