"""One entry point to a subscription's monitors, feedback, explanations, measurements and alerts."""
from __future__ import annotations

import copy
import os
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..datamart.database import DataMart, Subscription
from ..datamart.feedback import FeedbackLog
from ..deployments.artifacts import Deployment, load_verified_scorer
from ..deployments.engine import MLEngine
from ..errors import LabError
from ..workspace import Workspace
from .base import Engine, Monitor, MonitorContext
from .custom import CustomMonitor, CustomMonitors
from .engines import make_engine
from .explain import ExplanationService
from .registry import MONITORS
from .results import Measurement
from .together import run_together

if TYPE_CHECKING:
    import pandas as pd


class Monitoring:
    """The monitors of one subscription: `Monitoring.for_deployment(workspace, deployment)`.

    Every registered monitor is an attribute (`monitoring.quality`, `monitoring.fairness`, ...; `dir()`
    lists them), each with `enable`, `run`, `disable`, `get_details` and `measurements`.
    """

    def __init__(self, workspace: Workspace, datamart: DataMart, subscription: Subscription,
                 engine: Engine | str = "local", spark_master: str | None = None) -> None:
        deployment_dir = workspace.deployments_dir / subscription.deployment_id
        if not deployment_dir.is_dir():
            raise LabError(f"subscription {subscription.subscription_id} watches deployment "
                           f"{subscription.deployment_id}, which is no longer in {workspace.deployments_dir}")
        self._attach(MonitorContext(datamart, subscription, workspace, load_verified_scorer(deployment_dir),
                                    engine=make_engine(engine, spark_master)))

    def _attach(self, ctx: MonitorContext) -> None:
        self.ctx = ctx
        self._monitors: dict[str, Monitor[Any, Any]] = {}

    @classmethod
    def for_deployment(cls, workspace: Workspace | str | os.PathLike[str] | None,
                       deployment: Deployment | str, engine: Engine | str = "local",
                       spark_master: str | None = None) -> Monitoring:
        """The monitors of a deployment's subscription. `engine` evaluates large windows: "local" (this process,
        in chunks beyond 400 000 records) or "spark" (Spark jobs on `spark_master`, e.g. "spark://host:7077" or
        "local[2]"; the data mart must be PostgreSQL, read over JDBC)."""
        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
        dep_id = deployment.deployment_id if isinstance(deployment, Deployment) else deployment
        MLEngine(ws).get(dep_id)
        datamart = DataMart(ws.datamart_url)
        sub = datamart.subscription_for_deployment(dep_id)
        if sub is None:
            raise LabError(f"deployment {dep_id} has no subscription yet: start it once so it registers")
        return cls(ws, datamart, sub, engine, spark_master)

    def restricted(self, record_prefix: str) -> Monitoring:
        """These monitors reading only records whose ids start with `record_prefix` (a replayed story's), their
        measurements marked with it; shares this one's data mart and scorer (close this one, not that)."""
        found = copy.copy(self)
        found._attach(self.ctx.restricted(record_prefix))
        return found

    @property
    def subscription(self) -> Subscription:
        return self.ctx.subscription

    @property
    def datamart(self) -> DataMart:
        return self.ctx.datamart

    @property
    def feedback(self) -> FeedbackLog:
        return self.ctx.feedback

    @cached_property
    def explanations(self) -> ExplanationService:
        """LIME and contrastive explanations of single transactions (a service, not a monitor)."""
        return ExplanationService(self.ctx)

    # -- the registered monitors ----------------------------------------------------------------
    def monitor(self, name: str) -> Monitor[Any, Any]:
        """The registered monitor called `name`."""
        if name not in MONITORS:
            raise LabError(f"no monitor {name!r}; the monitors are {', '.join(MONITORS)} "
                           "(custom monitors: monitoring.custom(name))")
        if name not in self._monitors:
            self._monitors[name] = MONITORS[name](self.ctx)
        return self._monitors[name]

    def __getattr__(self, name: str) -> Any:
        if name in MONITORS:
            return self.monitor(name)
        raise AttributeError(f"'Monitoring' has no attribute {name!r}; its monitors are {', '.join(MONITORS)}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(MONITORS))

    def custom(self, name: str) -> CustomMonitor:
        """The custom monitor `name` (register its definition first with `CustomMonitors`)."""
        return CustomMonitors(self.ctx.datamart).monitor(self.subscription, name)

    def enabled(self) -> list[str]:
        """Registered monitors enabled for this subscription, in run order."""
        names = {i["monitor"] for i in self.ctx.store.instances(self.subscription.subscription_id)}
        return [m for m in MONITORS if m in names]

    def run_all(self, end: datetime | None = None) -> dict[str, Measurement]:
        """Run every enabled monitor that has a schedule (as the scheduler would) over its default window
        ending at `end` (now: one moment for all); monitors sharing a window read it once (`run_together`)."""
        scheduled = {i["monitor"] for i in self.ctx.store.instances(self.subscription.subscription_id)
                     if i["schedule_hours"] > 0}
        return run_together([self.monitor(name) for name in self.enabled() if name in scheduled], end=end)

    # -- results --------------------------------------------------------------------------------
    def measurements(self, monitor: str | None = None) -> pd.DataFrame:
        """Stored measurements, oldest first: all of them, or a replayed story's only (`restricted`)."""
        return self.ctx.store.measurements(self.subscription.subscription_id, monitor, self.ctx.record_prefix)

    def alerts(self, monitor: str | None = None) -> pd.DataFrame:
        """Stored alerts, oldest first: all of them, or a replayed story's only (`restricted`)."""
        return self.ctx.store.alerts(self.subscription.subscription_id, monitor, self.ctx.record_prefix)

    def instances(self) -> pd.DataFrame:
        """Every enabled monitor of the subscription with its schedule and last run."""
        import pandas as pd

        columns = ["monitor", "schedule_hours", "enabled_at", "last_run_at"]
        return pd.DataFrame(self.ctx.store.instances(self.subscription.subscription_id), columns=[*columns, "config"])[
            columns]

    def close(self) -> None:
        self.ctx.datamart.close()
