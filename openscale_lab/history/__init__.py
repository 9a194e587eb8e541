"""The replayed week: a scenario (traffic and world), the world's labels and business process, the replay."""
from .replay import HistoryReplay, HistorySummary, plot_history_traffic
from .scenario import Scenario, ScenarioError
from .world import World, business_records

__all__ = ["HistoryReplay", "HistorySummary", "Scenario", "ScenarioError", "World", "business_records",
           "plot_history_traffic"]
