"""An OpenScale-compatible REST service (the V2 API) over the lab's own data mart, deployments and monitors.

IBM's `ibm-watson-openscale` client talks to it as it would to Watson OpenScale: `openscale-lab service start`
(or `lab.start_service(ws)`) gives the URL, the bearer token and the service instance id an `APIClient` needs.
Every call is mapped onto the lab's objects (`DataMart`, `Monitoring`, `CustomMonitors`, `ExplanationService`):
the service never evaluates a monitor itself. docs/openscale-api.md lists what it serves and what it does not.
"""
from __future__ import annotations

from .process import ServiceInfo, service_status, start_service, stop_service

__all__ = ["ServiceInfo", "service_status", "start_service", "stop_service"]
