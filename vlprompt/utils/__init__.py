"""Small shared utilities: registry, logging, seeding, meters, file I/O."""
from .registry import Registry
from .logger import setup_logger
from .tools import set_random_seed, mkdir_if_missing, atomic_torch_save, atomic_write_text, collect_env_info
from .meters import AverageMeter, MetricMeter

__all__ = [
    "Registry", "setup_logger", "set_random_seed", "mkdir_if_missing", "atomic_torch_save",
    "atomic_write_text", "collect_env_info", "AverageMeter", "MetricMeter",
]
