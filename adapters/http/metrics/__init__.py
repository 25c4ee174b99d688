"""Prometheus metrics: what they are (registry), how task changes feed them (recorder), the
observer that times every call and writes its access line (for the edge middleware),
and GET /metrics."""
