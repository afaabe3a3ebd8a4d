"""Observability: one log line per operation, and Prometheus metrics."""
