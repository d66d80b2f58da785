"""yacs configuration: the framework defaults, the plug-ins' sub-trees and the merge order of ``train.py``."""
from .defaults import CfgNode, get_cfg_default
from .plugins import bool_as_string, declare, declare_coercion, extend_cfg
from .setup import get_cfg, merge_opts, setup_cfg

__all__ = ["get_cfg_default", "get_cfg", "CfgNode", "declare", "extend_cfg", "setup_cfg", "merge_opts",
           "declare_coercion", "bool_as_string"]
