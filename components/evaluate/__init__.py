"""Evaluate: ranking metrics through the serving model, baselines, and the blessing gate."""
