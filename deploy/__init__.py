"""Deployment and operations: health check, HAProxy and compose files, process supervision."""
