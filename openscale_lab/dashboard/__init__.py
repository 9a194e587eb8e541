"""The Insights dashboard: in a notebook (ipywidgets), as a web page (Voilà), or as a static HTML report."""
from .app import InsightsDashboard
from .data import InsightsData
from .report import write_report
from .serve import served as dashboard_served
from .serve import start_dashboard, stop_dashboard

__all__ = ["InsightsDashboard", "InsightsData", "dashboard_served", "start_dashboard", "stop_dashboard",
           "write_report"]
