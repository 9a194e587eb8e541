"""Deployments: each a real HTTP server process on 127.0.0.1 serving a compiled, Spark-verified model.

`artifacts` (folder layout, settings, verified scorer) · `engine` (the process manager) · `app` (the
FastAPI scoring app) · `serve` (the process entry point) · `verification` (the check against Spark) ·
`validation` (reading scoring requests) · `client` (calling a deployment).
"""
