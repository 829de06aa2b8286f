"""Deployments: models served by worker jobs that the platform keeps running and scales.

`spec` is what a model author asks for; `service` records it (the API and CLI call it);
`scaling` decides how many replicas the load needs; `controller` is the loop (one leader
across server replicas) that submits, follows, replaces, drains and stops the worker jobs.
"""
