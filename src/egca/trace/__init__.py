"""Trace stage: what a program writes and computes, line by line (static write-sets, tracer)."""
