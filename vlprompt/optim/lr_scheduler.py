"""Per-epoch LR schedules in closed form, equal to Dassl's warm-up wrappers around PyTorch schedulers (and a
per-iteration cosine, :class:`IterationCosineLR`).

The reference steps the scheduler once per epoch. With warm-up (W epochs) the successor schedule
starts from its own epoch 0 after the warm-up (``WARMUP_RECOUNT True``). For the released CoOp
configs (W=1 constant at 1e-5, cosine, base lr η, E epochs): epoch 1 -> 1e-5, epoch e >= 2 ->
η(1 + cos(π(e-2)/E))/2. Computing the closed form avoids the drift of PyTorch's recursive cosine
update (differences ~1e-12) and the reference's positional ``verbose`` argument, which recent
PyTorch rejects. ``WARMUP_RECOUNT False`` continues the successor at epoch e (closed form).
"""
from __future__ import annotations

import bisect
import math
from typing import List

AVAILABLE_LR_SCHEDULERS = ("single_step", "multi_step", "cosine")


class EpochLRScheduler:
    """Sets each param group's lr for the current epoch; ``step()`` is called once per epoch."""

    def __init__(self, optimizer, name: str, max_epoch: int, stepsize=(-1,), gamma: float = 0.1,
                 warmup_epoch: int = -1, warmup_type: str = "linear", warmup_cons_lr: float = 1e-5,
                 warmup_min_lr: float = 1e-5, warmup_recount: bool = True):
        if name not in AVAILABLE_LR_SCHEDULERS:
            raise ValueError(f'OPTIM.LR_SCHEDULER must be one of {list(AVAILABLE_LR_SCHEDULERS)}, got "{name}"')
        if warmup_epoch > 0 and warmup_type not in ("constant", "linear"):
            raise ValueError(f'OPTIM.WARMUP_TYPE must be "constant" or "linear", got "{warmup_type}"')
        if name == "multi_step" and not isinstance(stepsize, (list, tuple)):
            raise ValueError(f"OPTIM.STEPSIZE must be a list of epochs for multi_step, got {stepsize}")
        self.optimizer = optimizer
        self.name = name
        self.max_epoch = max_epoch
        self.stepsize = list(stepsize) if isinstance(stepsize, (list, tuple)) else [stepsize]
        self.gamma = gamma
        self.warmup_epoch = warmup_epoch
        self.warmup_type = warmup_type
        self.warmup_cons_lr = warmup_cons_lr
        self.warmup_min_lr = warmup_min_lr
        self.warmup_recount = warmup_recount
        self.base_lrs = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        for g, lr in zip(optimizer.param_groups, self.base_lrs):
            g["initial_lr"] = lr
        self.last_epoch = 0
        self._apply()

    def _successor_lr(self, base: float, e: int) -> float:
        if self.name == "cosine":
            return base * (1 + math.cos(math.pi * e / float(self.max_epoch))) / 2
        if self.name == "single_step":
            step = self.stepsize[-1]
            step = self.max_epoch if step <= 0 else step
            return base * self.gamma ** (e // step)
        return base * self.gamma ** bisect.bisect_right(sorted(self.stepsize), e)

    def lr_at(self, epoch_index: int) -> List[float]:
        """Learning rates used during the epoch with 0-based index ``epoch_index``."""
        w = self.warmup_epoch
        out = []
        for base in self.base_lrs:
            if w > 0 and epoch_index < w:
                if self.warmup_type == "constant":
                    out.append(self.warmup_cons_lr)
                else:
                    out.append(self.warmup_min_lr if epoch_index == 0 else base * epoch_index / w)
            else:
                e = epoch_index - w if (w > 0 and self.warmup_recount) else epoch_index
                out.append(self._successor_lr(base, e))
        return out

    def _apply(self) -> None:
        for g, lr in zip(self.optimizer.param_groups, self.lr_at(self.last_epoch)):
            g["lr"] = lr

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> List[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs), "name": self.name}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = list(state.get("base_lrs", self.base_lrs))
        self._apply()


class IterationCosineLR:
    """Cosine annealing over iterations, stepped after every optimiser step (the trainer sets
    ``lr_step_per_iteration``): iteration t (0-based) of T uses eta_min + (base - eta_min)(1 + cos(pi t / T)) / 2,
    the closed form of PyTorch's ``CosineAnnealingLR(optimizer, T, eta_min)`` stepped once per iteration
    (CLIP-LoRA, Tip-Adapter-F)."""

    name = "cosine_iteration"

    def __init__(self, optimizer, total_iters: int, eta_min: float = 0.0):
        if total_iters < 1:
            raise ValueError(f"A cosine schedule over iterations needs at least one iteration, got {total_iters}")
        self.optimizer = optimizer
        self.total_iters = total_iters
        self.eta_min = eta_min
        self.base_lrs = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        for g, lr in zip(optimizer.param_groups, self.base_lrs):
            g["initial_lr"] = lr
        self.last_iter = 0
        self._apply()

    def lr_at(self, iteration: int) -> List[float]:
        cos = (1 + math.cos(math.pi * iteration / self.total_iters)) / 2
        return [self.eta_min + (base - self.eta_min) * cos for base in self.base_lrs]

    def _apply(self) -> None:
        for g, lr in zip(self.optimizer.param_groups, self.lr_at(self.last_iter)):
            g["lr"] = lr

    def step(self) -> None:
        self.last_iter += 1
        self._apply()

    def get_last_lr(self) -> List[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"name": self.name, "last_iter": self.last_iter, "total_iters": self.total_iters,
                "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name or state.get("total_iters") != self.total_iters:
            raise ValueError(f"Cannot resume a schedule of {self.total_iters} iterations from the state {state}")
        self.last_iter = int(state["last_iter"])
        self.base_lrs = list(state.get("base_lrs", self.base_lrs))
        self._apply()


def build_lr_scheduler(optimizer, optim_cfg) -> EpochLRScheduler:
    return EpochLRScheduler(
        optimizer, optim_cfg.LR_SCHEDULER, optim_cfg.MAX_EPOCH, stepsize=optim_cfg.STEPSIZE,
        gamma=optim_cfg.GAMMA, warmup_epoch=optim_cfg.WARMUP_EPOCH, warmup_type=optim_cfg.WARMUP_TYPE,
        warmup_cons_lr=optim_cfg.WARMUP_CONS_LR, warmup_min_lr=optim_cfg.WARMUP_MIN_LR,
        warmup_recount=optim_cfg.WARMUP_RECOUNT,
    )
