"""What every CLIP-based trainer shares: CLIP loading and precision, freezing, the registered learnable
module with its optimiser, amp, the cross-entropy step, evaluation with text features encoded once,
and loading checkpoints across class sets. A method's trainer file only says how logits are made.
"""
from __future__ import annotations

import contextlib
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import PromptCLIP, build_clip_from_cfg
from vlprompt.config import declare
from vlprompt.engine.checkpoint import load_checkpoint
from vlprompt.engine.trainer import TrainerX
from vlprompt.optim import build_lr_scheduler, build_optimizer
from vlprompt.utils.dist import is_distributed

PRECISIONS = ("fp16", "fp32", "amp")
TEXT_ENCODINGS = ("fast", "reference")


def compute_accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * (output.argmax(dim=1) == target).float().mean().item()


def resolve_precision(prec: str, device: torch.device) -> str:
    """fp16 needs a GPU: on the CPU it falls back to fp32 with a warning (documented behaviour)."""
    if prec not in PRECISIONS:
        raise ValueError(f'PREC must be one of {PRECISIONS}, got "{prec}"')
    if prec == "fp16" and device.type != "cuda":
        warnings.warn("PREC fp16 is not supported on the CPU; training in fp32 instead (use amp for bf16 autocast)")
        return "fp32"
    return prec


class _DistributedModule(torch.nn.parallel.DistributedDataParallel):
    """DDP whose wrapped module's attributes (buffers, properties, methods) stay reachable, so model
    code reads ``prompt_learner.eot_indices`` the same way with and without DDP."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def load_pretrained_weights(model: nn.Module, weight_path: str) -> None:
    """Load a checkpoint or bare state dict, keeping only entries whose name and shape match."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint)
    own = model.state_dict()
    matched = {}
    for k, v in state_dict.items():
        k = k[7:] if k.startswith("module.") else k
        if k in own and own[k].shape == v.shape:
            matched[k] = v
    if not matched:
        warnings.warn(f'Cannot load "{weight_path}" (no key with a matching name and shape)')
        return
    own.update(matched)
    model.load_state_dict(own)
    print(f'Successfully loaded pretrained weights from "{weight_path}" ({len(matched)} tensors)')


class CLIPTrainer(TrainerX):
    """Base for trainers that adapt a frozen CLIP through one learnable module.

    Subclasses set ``prec_key`` (the TRAINER sub-node holding PREC, e.g. "COOP"), ``learnable``
    (attribute name of the learnable module on the model, also its registered/checkpoint name) and
    implement :meth:`build_custom_clip`, which receives the class names and CLIP already on the run's
    device and in the run's precision (so fixed texts are encoded where the model runs). The default
    training step is cross-entropy on the model's logits (:meth:`compute_loss`); evaluation encodes
    the class text features once (unless the model's prompts depend on the image).

    Methods whose learnable tensors sit in both encoders (deep prompts) register the whole model, as the
    official code does: ``learnable = ""``, ``checkpoint_name`` (the registered name and checkpoint
    folder, e.g. "VLPromptLearner") and :meth:`trainable` (which parameters train). The checkpoints written
    then hold the trainable tensors and buffers only, under the whole model's key names (the frozen CLIP
    weights are the backbone file's); official whole-model checkpoints load, their frozen weights included.
    """

    prec_key = "COOP"
    learnable = "prompt_learner"
    checkpoint_name = ""  # registered name / checkpoint folder when it differs from ``learnable``
    check_input_size = True
    # Buffers recomputed from the current class names; dropped when loading a checkpoint so that a
    # model trained on one set of classes loads for another (base -> new, cross-dataset).
    class_dependent_keys = ("token_prefix", "token_suffix")
    _eval_text_features = None

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        # vlprompt: autocast dtype of PREC "amp" on CUDA: "fp16" (the reference: fp16 with a grad scaler)
        # or "bf16" (no scaler; GPUs with bf16 support). On the CPU amp always uses bf16.
        declare(cfg, "TRAINER", AMP_DTYPE="fp16")

    def check_cfg(self, cfg) -> None:
        prec = cfg.TRAINER[self.prec_key].PREC
        if prec not in PRECISIONS:
            raise ValueError(f'TRAINER.{self.prec_key}.PREC must be one of {PRECISIONS}, got "{prec}"')
        if cfg.MODEL.TEXT_ENCODING not in TEXT_ENCODINGS:
            raise ValueError(f'MODEL.TEXT_ENCODING must be one of {TEXT_ENCODINGS}, got "{cfg.MODEL.TEXT_ENCODING}"')

    @property
    def registered_name(self) -> str:
        return self.checkpoint_name or self.learnable

    def trainable(self, name: str) -> bool:
        """Whether the model's parameter ``name`` trains (default: those of the learnable module)."""
        if not self.learnable:
            raise NotImplementedError(f'{type(self).__name__} registers the whole model (learnable = ""): override '
                                      "trainable(name) to say which parameters train")
        return name.startswith(self.learnable + ".")

    def frozen_keys(self, name: str) -> frozenset:
        if self.learnable:  # a registered sub-module is saved whole (e.g. Tip-Adapter's frozen cache keys)
            return frozenset()
        return frozenset(n for n, p in self._models[name].named_parameters(remove_duplicate=False)
                         if not p.requires_grad)

    @property
    def fast_text(self) -> bool:
        """MODEL.TEXT_ENCODING "fast": the exact fast text paths (False: the reference computation)."""
        return self.cfg.MODEL.TEXT_ENCODING == "fast"

    def build_custom_clip(self, classnames, clip_model) -> nn.Module:
        raise NotImplementedError

    def load_clip(self, to_device: bool = True) -> nn.Module:
        """CLIP in the run's precision (fp16 as OpenAI's, or fp32), eval mode, on the run's device
        (``to_device``; trainers that use one tower only move that one)."""
        clip_model = build_clip_from_cfg(self.cfg)
        requested = self.cfg.TRAINER[self.prec_key].PREC
        self.precision = resolve_precision(requested, self.device)
        # The config dump above shows what was asked for; this line (and results.json) what is used.
        note = "" if self.precision == requested else f" (TRAINER.{self.prec_key}.PREC {requested} needs a GPU)"
        print(f"Precision: {self.precision}{note}")
        if self.precision != "fp16":
            clip_model.float()
        if self.check_input_size:
            res = clip_model.visual.image_size
            res = res[0] if isinstance(res, (tuple, list)) else res
            if self.cfg.INPUT.SIZE[0] != res:
                raise ValueError(
                    f"INPUT.SIZE {tuple(self.cfg.INPUT.SIZE)} does not match the CLIP input resolution {res}; "
                    f"set INPUT.SIZE ({res}, {res})"
                )
        return clip_model.to(self.device) if to_device else clip_model

    def build_model(self) -> None:
        cfg = self.cfg
        classnames = self.dm.dataset.classnames
        clip_model = self.load_clip()
        print(f"Building custom CLIP ({type(self).__name__})")
        self.model = self.build_custom_clip(classnames, clip_model)
        print("Turning off gradients in both the image and the text encoder")
        for name, param in self.model.named_parameters():
            param.requires_grad_(self.trainable(name))
        enabled = sorted(n for n, p in self.model.named_parameters() if p.requires_grad)
        print(f"Parameters to be updated: {enabled}")
        learnable = getattr(self.model, self.learnable) if self.learnable else self.model
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(learnable, cfg.MODEL.INIT_WEIGHTS)
        self.model.to(self.device)  # modules the method created on the CPU (e.g. the context vectors)
        self.optim, self.sched = self.build_optimization(learnable)
        self.register_model(self.registered_name, learnable, self.optim, self.sched)
        if is_distributed():
            self.wrap_distributed(learnable)
        self.scaler = torch.amp.GradScaler("cuda") if self.autocast_dtype() == torch.float16 else None

    def build_optimization(self, learnable: nn.Module):
        """(optimiser, LR scheduler) of the learnable module: OPTIM's, stepped per epoch by default."""
        optim = build_optimizer([p for p in learnable.parameters() if p.requires_grad], self.cfg.OPTIM)
        return optim, build_lr_scheduler(optim, self.cfg.OPTIM)

    def wrap_distributed(self, learnable: nn.Module) -> None:
        """Distributed runs: gradients of the learnable module are averaged across processes by DDP (its
        forward must be what the model calls); the frozen encoders stay plain modules (DDP skips frozen
        parameters of a registered whole model). Checkpoints use the unwrapped (registered) module."""
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        wrapped = _DistributedModule(learnable, device_ids=device_ids, broadcast_buffers=False)
        if self.learnable:
            setattr(self.model, self.learnable, wrapped)
        else:
            self.model = wrapped

    def autocast_dtype(self):
        """amp: TRAINER.AMP_DTYPE on CUDA (fp16 with a grad scaler, or bf16), bf16 on the CPU; else None."""
        if self.precision != "amp":
            return None
        if self.device.type != "cuda":
            return torch.bfloat16
        choice = self.cfg.TRAINER.AMP_DTYPE
        if choice not in ("fp16", "bf16"):
            raise ValueError(f'TRAINER.AMP_DTYPE must be "fp16" or "bf16", got "{choice}"')
        if choice == "bf16" and not torch.cuda.is_bf16_supported():
            raise ValueError("TRAINER.AMP_DTYPE bf16 is not supported by this GPU; use fp16")
        return torch.bfloat16 if choice == "bf16" else torch.float16

    def autocast(self):
        dtype = self.autocast_dtype()
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def compute_loss(self, image: torch.Tensor, label: torch.Tensor):
        """Returns (loss, logits or None). Default: cross-entropy on the model's logits."""
        output = self.model(image)
        return F.cross_entropy(output, label), output

    def forward_backward(self, batch) -> dict:
        image, label = self.parse_batch_train(batch)
        with self.autocast():
            loss, output = self.compute_loss(image, label)
        if self.scaler is not None:
            self.model_zero_grad()
            self.detect_anomaly(loss)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optim)
            self.scaler.update()
        else:
            self.model_backward_and_update(loss)
        summary = {"loss": loss.item()}
        if output is not None:
            summary["acc"] = compute_accuracy(output, label)
        return summary

    # ---------------------------------------------------------------- evaluation
    def before_test(self) -> None:
        # Class text features do not depend on the image: encode them once per evaluation (the
        # reference computation re-encodes them for every test batch).
        model = getattr(self.model, "module", self.model)  # a registered whole model may be wrapped by DDP
        if self.fast_text and isinstance(model, PromptCLIP) and not model.image_conditioned:
            with self.autocast():
                self._eval_text_features = model.text_features()

    def after_test(self) -> None:
        self._eval_text_features = None

    def model_inference(self, inputs: torch.Tensor) -> torch.Tensor:
        kwargs = {} if self._eval_text_features is None else {"text_features": self._eval_text_features}
        with self.autocast():
            return self.model(inputs, **kwargs).float()
