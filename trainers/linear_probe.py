"""Linear probe on frozen CLIP image features (the baseline of the CoOp paper, CLIP paper App. A.3).

Protocol (spec: CoOp's ``lpclip/``): image features of the frozen CLIP image encoder (the test
transform, no augmentation, unless TRAINER.FEATURES.TRAIN_VIEWS > 0), multinomial L2-regularised
logistic regression, the inverse regularisation strength C chosen on the validation split by the
reference's search (grid 1e6 ... 1e-6, then TRAINER.LINEAR_PROBE.NUM_STEP halvings of an interval in
log10 space), then the classifier fitted at that C is evaluated on the test split.

Our choices, where the reference differs:
- Features are **L2-normalised** before the classifier (as the issue asks; the reference fits raw
  features). Normalised features put every backbone on the same scale, so one C grid fits all.
- Few-shot train/val subsets are the ones every other trainer uses (DataManager: NUM_SHOTS and the
  per-seed few-shot cache), not the reference's separate NumPy draw, so rows of a table compare
  methods on the same images.
- The solver is full-batch L-BFGS in torch on the trainer's device (GPU when there is one): the
  objective is scikit-learn's (mean cross-entropy + ||W||^2 / (2 C N), bias not penalised, so C means
  the same), but one fit on e.g. 16-shot ImageNet (16k x 1024 x 1000) takes seconds on a GPU instead
  of minutes in scikit-learn's CPU lbfgs, and the search needs about 16 fits. Float64 on the CPU
  (small problems, exact), float32 on a GPU.
- Every C value is fitted once (the search revisits interval ends); the reported test accuracy is that
  of the final classifier, printed by the standard evaluator after "Finish training".

``python train.py --trainer LinearProbe ...`` needs no --eval-only. The classifier (weights, bias and
the chosen C as a buffer) is saved as ``<output>/linear_probe/model.pth.tar-1``.
"""
from __future__ import annotations

import math
import time
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import clip_embed_dim
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer, feature_cache
from vlprompt.engine.feature_cache import CachedFeatures, FeatureCache, FeatureLoader

# The reference's initial grid, strongest to weakest C (first maximum wins on ties).
C_GRID = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)


def search_regularization(val_accuracy: Callable[[float], float], num_step: int = 8,
                          grid: Sequence[float] = C_GRID) -> Tuple[float, List[Tuple[float, float]]]:
    """The reference's C search; returns (chosen C, [(C, val accuracy) in evaluation order]).

    Evaluate every C of ``grid``; peak = first maximum; interval (peak/10, peak*10). Then ``num_step``
    rounds: evaluate both ends; the better end (the left one on ties) is the round's choice and the
    interval shrinks, in log10 space, to the half on its side. The last round's choice is returned.
    ``val_accuracy`` is called once per distinct C.
    """
    if num_step < 0:
        raise ValueError(f"num_step must be >= 0, got {num_step}")
    if not grid or any(c <= 0 for c in grid):
        raise ValueError(f"the C grid must be non-empty and positive, got {list(grid)}")
    seen = {}  # rounded log10(C) -> (C, accuracy): 10**log10(c) may differ from c in the last bit
    history = []

    def evaluate(c: float) -> Tuple[float, float]:
        k = round(math.log10(c), 9)
        if k not in seen:
            seen[k] = (c, float(val_accuracy(c)))
            history.append(seen[k])
        return seen[k]

    results = [evaluate(c) for c in grid]
    chosen, best = results[0]
    for c, acc in results[1:]:
        if acc > best:
            chosen, best = c, acc
    left, right = chosen / 10, chosen * 10
    for _ in range(num_step):
        (c_left, acc_left), (c_right, acc_right) = evaluate(left), evaluate(right)
        lo, hi = math.log10(c_left), math.log10(c_right)
        mid = (lo + hi) / 2
        if acc_left < acc_right:
            chosen, lo = c_right, mid
        else:
            chosen, hi = c_left, mid
        left, right = 10 ** lo, 10 ** hi
    return chosen, history


def fit_logistic_regression(features: torch.Tensor, labels: torch.Tensor, num_classes: int, C: float,
                            max_iter: int = 1000, tol: float = 1e-6) -> Tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression, scikit-learn's objective: mean CE + ||W||^2 / (2 C N).

    Full-batch L-BFGS (strong Wolfe line search) from zero, on the device/dtype of ``features``.
    Returns (weight (K, D), bias (K,)).
    """
    if C <= 0:
        raise ValueError(f"C must be positive, got {C}")
    n, d = features.shape
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    weight = torch.zeros(num_classes, d, dtype=features.dtype, device=features.device, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=features.dtype, device=features.device, requires_grad=True)
    reg = 1.0 / (2.0 * C * n)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=tol,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(features @ weight.t() + bias, labels) + reg * weight.pow(2).sum()
        loss.backward()
        return loss

    # A small problem on the CPU spends more time synchronising intra-op threads than computing
    # (measured: ~100x slower on a busy 2-core machine for 80 x 32 x 8), so it runs on one thread.
    small = features.device.type == "cpu" and n * d * num_classes < 2 ** 22
    threads = torch.get_num_threads()
    try:
        if small:
            torch.set_num_threads(1)
        with torch.enable_grad():
            opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    return weight.detach(), bias.detach()


def accuracy(features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> float:
    """Top-1 accuracy (percent) of a linear classifier."""
    return 100.0 * ((features @ weight.t() + bias).argmax(1) == labels).double().mean().item()


class LinearProbeHead(nn.Module):
    """The fitted classifier: L2-normalise the raw CLIP feature, then a linear layer. ``C`` records the
    chosen inverse regularisation strength (saved in the checkpoint with the weights)."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(dim, num_classes)
        self.register_buffer("C", torch.tensor(float("nan"), dtype=torch.float64))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.normalize(features.float(), dim=-1)
        with torch.autocast(features.device.type, enabled=False):  # evaluate the fit in its own dtype
            return self.linear(x.to(self.linear.weight.dtype))


@TRAINER_REGISTRY.register()
class LinearProbe(CLIPTrainer):
    prec_key = "LINEAR_PROBE"
    learnable = "linear_probe"
    class_dependent_keys = ()
    supports_new_classes = False  # one weight vector per training class

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        feature_cache.extend_cfg(cfg)
        declare(cfg, "TRAINER.LINEAR_PROBE",
                PREC="fp16",  # precision of feature extraction
                NUM_STEP=8,  # binary refinement steps of the C search
                MAX_ITER=1000,  # L-BFGS iterations per fit
                C=0.0)  # > 0: use this inverse regularisation strength, no search

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        lp = cfg.TRAINER.LINEAR_PROBE
        if lp.NUM_STEP < 0 or lp.MAX_ITER < 1 or lp.C < 0:
            raise ValueError("TRAINER.LINEAR_PROBE needs NUM_STEP >= 0, MAX_ITER >= 1 and C >= 0 (0 = search), got "
                             f"{lp.NUM_STEP}, {lp.MAX_ITER}, {lp.C}")
        feature_cache.check_cfg(cfg)

    def build_model(self) -> None:
        clip_model = self.load_clip(to_device=False)
        encoder = clip_model.visual.to(self.device).eval()  # the text tower is not needed
        encoder.requires_grad_(False)
        dtype = next(p.dtype for p in encoder.parameters() if p.is_floating_point())
        self.features = FeatureCache(self.cfg, encoder, dtype, self.device, self.precision, autocast=self.autocast)
        dim = clip_embed_dim(clip_model)
        self.model = LinearProbeHead(dim, self.num_classes).to(self.device)
        self.register_model(self.learnable, self.model, None, None)
        self.fit_dtype = torch.float32 if self.device.type == "cuda" else torch.float64

    def _split_features(self, split: str) -> CachedFeatures:
        ds, dm = self.dm.dataset, self.dm
        if split == "train":
            views = self.cfg.TRAINER.FEATURES.TRAIN_VIEWS
            return self.features.get("train", ds.train_x, dm.tfm_train if views else dm.tfm_test, max(views, 1))
        return self.features.get(split, getattr(ds, split), dm.tfm_test, 1)

    def _fit_inputs(self, cached: CachedFeatures) -> Tuple[torch.Tensor, torch.Tensor]:
        """All views stacked, L2-normalised, in the fit dtype on the device."""
        x = F.normalize(cached.features.reshape(-1, cached.dim).to(self.device, self.fit_dtype), dim=-1)
        y = cached.labels.repeat(cached.num_views).to(self.device)
        return x, y

    def train(self) -> None:
        self.time_start = time.time()
        lp = self.cfg.TRAINER.LINEAR_PROBE
        x_train, y_train = self._fit_inputs(self._split_features("train"))
        fits = {}

        def fit(c: float):
            if c not in fits:
                fits[c] = fit_logistic_regression(x_train, y_train, self.num_classes, c, max_iter=lp.MAX_ITER)
            return fits[c]

        val_acc: Optional[float] = None
        if lp.C > 0:
            chosen = lp.C
            print(f"Using TRAINER.LINEAR_PROBE.C = {chosen:g} (no search)")
        else:
            if not self.dm.dataset.val:
                raise ValueError("LinearProbe selects C on the validation split, but this dataset has none; "
                                 "set TRAINER.LINEAR_PROBE.C to a fixed value")
            x_val, y_val = self._fit_inputs(self._split_features("val"))
            print(f"Searching C on the val split (grid {list(C_GRID)}, {lp.NUM_STEP} refinement steps)")
            chosen, history = search_regularization(lambda c: accuracy(x_val, y_val, *fit(c)), lp.NUM_STEP)
            for c, acc in history:
                print(f"C = {c:.4g}: val accuracy {acc:.2f}%")
            val_acc = dict(history)[chosen]
            print(f"Chosen C = {chosen:.4g} (val accuracy {val_acc:.2f}%)")
        weight, bias = fit(chosen)
        train_acc = accuracy(x_train, y_train, weight, bias)
        print(f"Linear probe fitted on {len(y_train):,} features (train accuracy {train_acc:.2f}%)")
        with torch.no_grad():
            self.model.linear.weight.copy_(weight)
            self.model.linear.bias.copy_(bias)
            self.model.C.fill_(chosen)
        self.save_model(0, self.output_dir, val_result=val_acc,
                        is_best=self.cfg.TEST.FINAL_MODEL == "best_val")
        self.after_train()  # "Finish training", test on TEST.SPLIT, elapsed time

    @torch.no_grad()
    def predict_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Images -> frozen image features (as the feature cache extracts them) -> the classifier."""
        encoder = self.features.image_encoder
        with self.autocast():
            features = encoder(images.to(self.device).type(self.features.dtype)).float()
        return self.model(features).float()

    # ------------------------------------------------------------ evaluation on cached features
    def eval_loader(self, split: str):
        split, _ = super().eval_loader(split)  # same split choice ("val" falls back to "test")
        return split, FeatureLoader(self._split_features(split), self.cfg.DATALOADER.TEST.BATCH_SIZE, False)
