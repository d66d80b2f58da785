"""yacs configuration: the default tree and the merge order used by ``train.py``."""
from .defaults import get_cfg_default, CfgNode
from .setup import setup_cfg, merge_opts

__all__ = ["get_cfg_default", "CfgNode", "setup_cfg", "merge_opts"]
