"""Test and demo fixtures: miniature datasets in the real layouts and tiny CLIP checkpoints.

Nothing here is needed for real training; it lets tests, CI and ``make demo`` run the real code
paths (dataset readers, OpenAI-format checkpoint loading) on machines without downloads.
"""
