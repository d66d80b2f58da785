"""Dataset readers. Every module here is imported on first use of the dataset registry; a file with a
``@DATASET_REGISTRY.register()`` class is all a new dataset needs. Importable as ``vlprompt.datasets``.
"""
