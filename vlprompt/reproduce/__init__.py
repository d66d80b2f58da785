"""Reproducing the papers: recipes (one per published table), the published numbers as data, and the
reproduction report (``python -m vlprompt.reproduce``)."""
from .recipes import RECIPES, Recipe, expand_recipe
from .report import build_report, collect, load_published

__all__ = ["RECIPES", "Recipe", "expand_recipe", "build_report", "collect", "load_published"]
