"""Small shared utilities: registry, logging, seeding, meters, file I/O."""
from .logger import setup_logger
from .meters import AverageMeter, MetricMeter
from .registry import Registry
from .tools import atomic_torch_save, atomic_write_text, collect_env_info, mkdir_if_missing, set_random_seed

__all__ = [
    "Registry", "setup_logger", "set_random_seed", "mkdir_if_missing", "atomic_torch_save",
    "atomic_write_text", "collect_env_info", "AverageMeter", "MetricMeter",
]
