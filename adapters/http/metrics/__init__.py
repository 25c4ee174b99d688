"""Prometheus metrics: what they are (registry), how task changes feed them (recorder), the
HTTP middleware that times every call and writes the access line, and GET /metrics."""
