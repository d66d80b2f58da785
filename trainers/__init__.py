"""Trainers (methods). Every module here is imported on first use of the trainer registry; a file with
a ``@TRAINER_REGISTRY.register()`` class is all a new method needs. Importable as ``vlprompt.trainers``.
"""
