"""Integrations of egca with other training engines (each an optional extra)."""
