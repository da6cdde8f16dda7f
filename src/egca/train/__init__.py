"""Training stage: egca on TRL (reward function, datasets; the EGCA trainer is next)."""
