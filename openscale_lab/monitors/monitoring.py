"""One entry point to a subscription's monitors, feedback, measurements and alerts."""
from __future__ import annotations

import os
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..datamart import DataMart, Subscription
from ..engine import Deployment, MLEngine
from ..errors import LabError
from ..service import load_verified_scorer
from ..workspace import Workspace
from .base import Measurement, MonitorContext
from .drift import DriftMonitor
from .explain import Explainer
from .fairness import FairnessMonitor
from .feedback import FeedbackLog
from .health import ModelHealthMonitor
from .quality import QualityMonitor

if TYPE_CHECKING:
    import pandas as pd

RUN_ORDER = ["quality", "fairness", "drift", "model_health"]


class Monitoring:
    """The monitors of one subscription: `Monitoring.for_deployment(workspace, deployment)`."""

    def __init__(self, workspace: Workspace, datamart: DataMart, subscription: Subscription) -> None:
        deployment_dir = workspace.deployments_dir / subscription.deployment_id
        if not deployment_dir.is_dir():
            raise LabError(f"subscription {subscription.subscription_id} watches deployment "
                           f"{subscription.deployment_id}, which is no longer in {workspace.deployments_dir}")
        self.ctx = MonitorContext(workspace, datamart, subscription, load_verified_scorer(deployment_dir))

    @classmethod
    def for_deployment(cls, workspace: Workspace | str | os.PathLike[str] | None,
                       deployment: Deployment | str) -> Monitoring:
        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
        dep_id = deployment.deployment_id if isinstance(deployment, Deployment) else deployment
        MLEngine(ws).get(dep_id)
        datamart = DataMart(ws.datamart_url)
        sub = datamart.subscription_for_deployment(dep_id)
        if sub is None:
            raise LabError(f"deployment {dep_id} has no subscription yet: start it once so it registers")
        return cls(ws, datamart, sub)

    @property
    def subscription(self) -> Subscription:
        return self.ctx.subscription

    @cached_property
    def feedback(self) -> FeedbackLog:
        return FeedbackLog(self.ctx.datamart, self.ctx.subscription, self.ctx.labels)

    @cached_property
    def quality(self) -> QualityMonitor:
        return QualityMonitor(self.ctx, self.feedback)

    @cached_property
    def fairness(self) -> FairnessMonitor:
        return FairnessMonitor(self.ctx, self.feedback)

    @cached_property
    def drift(self) -> DriftMonitor:
        return DriftMonitor(self.ctx)

    @cached_property
    def explainability(self) -> Explainer:
        return Explainer(self.ctx)

    @cached_property
    def model_health(self) -> ModelHealthMonitor:
        return ModelHealthMonitor(self.ctx)

    def monitor(self, name: str) -> Any:
        if name not in RUN_ORDER:
            raise LabError(f"no monitor {name!r}; the runnable monitors are {', '.join(RUN_ORDER)}")
        return getattr(self, name)

    def enabled(self) -> list[str]:
        names = {i["monitor"] for i in self.ctx.store.instances(self.subscription.subscription_id)}
        return [m for m in RUN_ORDER if m in names]

    def run_all(self, end: datetime | None = None) -> dict[str, Measurement]:
        """Run every enabled monitor over its default window ending at `end`."""
        return {name: self.monitor(name).run(end=end) for name in self.enabled()}

    def measurements(self, monitor: str | None = None) -> pd.DataFrame:
        return self.ctx.store.measurements(self.subscription.subscription_id, monitor)

    def alerts(self, monitor: str | None = None) -> pd.DataFrame:
        return self.ctx.store.alerts(self.subscription.subscription_id, monitor)

    def close(self) -> None:
        self.ctx.datamart.close()
