"""The data mart: bindings, subscriptions, payload logs and monitor results in one SQL database.

`tables` (every table) · `database` (`DataMart`, `Subscription`, time windows) · `analytics` (payload
distributions computed in the database).
"""
from .database import DataMart, Subscription, in_window, redact

__all__ = ["DataMart", "Subscription", "in_window", "redact"]
