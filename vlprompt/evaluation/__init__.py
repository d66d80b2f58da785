"""Evaluators (classification accuracy, error, macro-F1 and per-class results)."""
from .evaluator import EVALUATOR_REGISTRY, Classification, build_evaluator

__all__ = ["EVALUATOR_REGISTRY", "Classification", "build_evaluator"]
