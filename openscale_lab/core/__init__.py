"""Helpers that depend on nothing else in the lab (but its errors): the clock, JSON files, the notebooks' folder,
and the fairness group rules shared by the fairness monitor, the debiased endpoint and the dashboard."""
