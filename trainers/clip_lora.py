"""CLIP-LoRA (Zanella & Ben Ayed, CVPRW 2024): low-rank adapters in the attention of both CLIP encoders.

Official behaviour (MaxZanella/CLIP-LoRA): LoRA on q, k, v of every block of the text and the vision
transformer (``TRAINER.CLIP_LORA.{ENCODER both, POSITION all, PARAMS [q, k, v]}``), rank 2, alpha 1 with
scaling alpha / sqrt(r), dropout 0.25 on the LoRA input (:mod:`vlprompt.clip.lora`); one prompt template
"a photo of a {}." for every dataset; logits = 100 * cos (a fixed scale, not CLIP's); AdamW (lr 2e-4,
weight decay 1e-2, betas 0.9/0.999); ``N_ITERS`` (500) x shots iterations of batch 32 with cosine annealing
to 1e-6 stepped every iteration; fp16 autocast with a grad scaler (PREC amp); no validation, the final
model is tested. Every step encodes all class prompts with gradients (the text encoder changes).

On our per-epoch loop the iteration budget is run as whole epochs of the few-shot loader plus a last
partial epoch (the log says both: "8,000 iterations ... = 160 epochs of 50 batches"); the scheduler steps
after every batch (``lr_step_per_iteration``). ``N_ITERS 0`` counts OPTIM.MAX_EPOCH epochs instead.

Speed, exact: the prompts share "SOT a photo of a", which is encoded once per step for all classes, and
each prompt stops at its end-of-text token (:class:`~vlprompt.clip.FixedPrompts`). While the LoRA
dropout is active (training) the update of every prompt's prefix differs, so training shares no prefix
(each class, each position keeps its own dropout draw, as in the plain computation) and only cuts the
prompts after their EOT; evaluation shares it.

Checkpoint: ``clip_lora/model.pth.tar-<last epoch>`` holds only the adapters, ``layer_<i>.<proj>.w_lora_{A,B}``
(the official ``weights`` dict, flattened); the official file ``<FILENAME>.pt`` is written beside it.
``--eval-only --model-dir`` takes our run folder or an official one (a folder holding ``<FILENAME>.pt``;
its metadata must match, as the official ``--eval_only`` checks).
"""
from __future__ import annotations

import math
import os
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import FixedPrompts, PromptCLIP, TextEncoder, encode_class_prompts
from vlprompt.clip.lora import ENCODERS, POSITIONS, PROJECTIONS, LoRAAdapters, apply_lora, from_official, to_official
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer
from vlprompt.engine.checkpoint import final_checkpoint, load_checkpoint, load_state_dict_checked
from vlprompt.optim import IterationCosineLR, build_optimizer
from vlprompt.utils.dist import is_main_process
from vlprompt.utils.safe_load import safe_load
from vlprompt.utils.tools import atomic_torch_save

# Config keys that shape the adapters: a checkpoint must have been trained with the same values.
ADAPTER_KEYS = ("ENCODER", "POSITION", "PARAMS", "R", "ALPHA")


class LoRACLIP(PromptCLIP):
    """CLIP whose attention carries the adapters (``clip_lora``), classifying with fixed prompts."""

    def __init__(self, clip_model: nn.Module, classnames, template: str, adapters: LoRAAdapters, logit_scale: float,
                 fast: bool = True):
        super().__init__(clip_model)
        self.clip_lora = adapters
        encoder = adapters.metadata["encoder"]
        self.text_adapted = encoder in ("text", "both")
        self.vision_adapted = encoder in ("vision", "both")
        self.scale = logit_scale
        self.text_encoder = TextEncoder(clip_model)
        self.prompts = FixedPrompts(clip_model, classnames, template, fast=fast)
        if not self.text_adapted:  # a frozen text encoder: the classifier is computed once (official)
            self.register_buffer("frozen_text_features", encode_class_prompts(clip_model, classnames, [template]),
                                 persistent=False)

    def text_features(self, plan=None) -> torch.Tensor:
        if not self.text_adapted:
            return self.frozen_text_features
        prompts = self.prompts
        if plan is None:
            plan = prompts.plan
            if self.clip_lora.dropout_active and plan.shared_len:
                # Each prompt's prefix gets its own dropout draw: nothing is shared while dropout is on.
                plan = prompts.make_plan(truncate=prompts.fast, shared_prefix=False)
        return F.normalize(self.text_encoder.encode(prompts(plan), plan), dim=-1)

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        if self.vision_adapted:
            return super().encode_image(image)
        with torch.no_grad():  # frozen image encoder (ENCODER text)
            return super().encode_image(image)

    def logits(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        return self.scale * image_features @ text_features.to(image_features.dtype).t()


@TRAINER_REGISTRY.register()
class CLIP_LoRA(CLIPTrainer):
    prec_key = "CLIP_LORA"
    learnable = "clip_lora"
    class_dependent_keys = ()
    lr_step_per_iteration = True

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        declare(cfg, "TRAINER.CLIP_LORA",
                PREC="amp",  # official: fp16 autocast + grad scaler on CUDA (bf16 autocast on a CPU)
                ENCODER="both",  # text | vision | both
                POSITION="all",  # blocks: all | bottom | mid | up | half-up | half-bottom | top | top2 | top3
                PARAMS=["q", "k", "v"],  # projections among q, k, v, o
                R=2,
                ALPHA=1.0,  # scaling alpha / sqrt(R)
                DROPOUT_RATE=0.25,  # on the LoRA input, in training
                N_ITERS=500,  # iterations per shot (total = N_ITERS x DATASET.NUM_SHOTS); 0: OPTIM.MAX_EPOCH epochs
                ETA_MIN=1e-6,  # the cosine schedule's final lr
                LOGIT_SCALE=100.0,  # fixed scale of the logits (not CLIP's learned one)
                TEMPLATE="a photo of a {}.",  # the prompt of every class; "" = the dataset reader's template
                FILENAME="lora_weights")  # the official checkpoint's file name (--filename)

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        c = cfg.TRAINER.CLIP_LORA
        if c.ENCODER not in ENCODERS:
            raise ValueError(f'TRAINER.CLIP_LORA.ENCODER must be one of {list(ENCODERS)}, got "{c.ENCODER}"')
        if c.POSITION not in POSITIONS:
            raise ValueError(f'TRAINER.CLIP_LORA.POSITION must be one of {list(POSITIONS)}, got "{c.POSITION}"')
        if not c.PARAMS or any(p not in PROJECTIONS for p in c.PARAMS) or len(set(c.PARAMS)) != len(c.PARAMS):
            raise ValueError(f"TRAINER.CLIP_LORA.PARAMS must be distinct letters among {list(PROJECTIONS)}, got "
                             f"{list(c.PARAMS)}")
        if c.R < 1 or not 0 <= c.DROPOUT_RATE < 1 or c.N_ITERS < 0 or c.LOGIT_SCALE <= 0:
            raise ValueError("TRAINER.CLIP_LORA needs R >= 1, 0 <= DROPOUT_RATE < 1, N_ITERS >= 0 and LOGIT_SCALE > 0, "
                             f"got {c.R}, {c.DROPOUT_RATE}, {c.N_ITERS}, {c.LOGIT_SCALE}")

    @classmethod
    def final_epoch(cls, cfg) -> Optional[int]:
        # With an iteration budget the number of epochs depends on the dataset: load the final checkpoint.
        return None if cfg.TRAINER.CLIP_LORA.N_ITERS > 0 else int(cfg.OPTIM.MAX_EPOCH)

    # ------------------------------------------------------------------ model
    def build_custom_clip(self, classnames, clip_model) -> nn.Module:
        c = self.cfg.TRAINER.CLIP_LORA
        adapters = apply_lora(clip_model, c.ENCODER, c.POSITION, list(c.PARAMS), c.R, c.ALPHA, c.DROPOUT_RATE)
        n = sum(p.numel() for p in adapters.parameters())
        print(f"LoRA: {len(adapters._modules)} attention modules, {n:,} parameters")
        template = c.TEMPLATE or self.dm.dataset.template
        print(f"Prompt template: {template!r} (e.g. {template.format(classnames[0].replace('_', ' '))!r})")
        return LoRACLIP(clip_model, classnames, template, adapters, c.LOGIT_SCALE, fast=self.fast_text)

    def _schedule(self):
        """(total iterations, what they come from) of this run, or (None, why not) when it cannot train."""
        c, shots = self.cfg.TRAINER.CLIP_LORA, self.cfg.DATASET.NUM_SHOTS
        if c.N_ITERS == 0:
            return self.cfg.OPTIM.MAX_EPOCH * len(self.train_loader_x), f"OPTIM.MAX_EPOCH {self.cfg.OPTIM.MAX_EPOCH}"
        if shots < 1:
            return None, (f"TRAINER.CLIP_LORA.N_ITERS ({c.N_ITERS}) counts iterations per shot, but DATASET.NUM_SHOTS is "
                          f"{shots} (all images): set DATASET.NUM_SHOTS, or N_ITERS 0 and OPTIM.MAX_EPOCH")
        return c.N_ITERS * shots, f"TRAINER.CLIP_LORA.N_ITERS {c.N_ITERS} x {shots} shots"

    def build_optimization(self, learnable: nn.Module):
        optim = build_optimizer(learnable, self.cfg.OPTIM)
        total, origin = self._schedule()
        self.total_iters = total
        if total is None:
            self.cannot_train = origin
            return optim, None
        per_epoch = len(self.train_loader_x)
        self.max_epoch = math.ceil(total / per_epoch)
        last = total - (self.max_epoch - 1) * per_epoch
        note = f"; the last epoch stops after {last}" if last < per_epoch else ""
        print(f"CLIP-LoRA schedule: {total:,} iterations ({origin}) = {self.max_epoch} epochs of {per_epoch} batches "
              f"of {self.cfg.DATALOADER.TRAIN_X.BATCH_SIZE}{note}; cosine annealing per iteration to "
              f"{self.cfg.TRAINER.CLIP_LORA.ETA_MIN:g}")
        return optim, IterationCosineLR(optim, total, eta_min=self.cfg.TRAINER.CLIP_LORA.ETA_MIN)

    def wrap_distributed(self, learnable: nn.Module) -> None:
        """The adapters sit inside both encoders, so DDP (which needs the module's own forward) cannot wrap
        them: each gradient is averaged across processes as soon as it is accumulated."""
        import torch.distributed as dist

        world = dist.get_world_size()

        def average(p: torch.Tensor) -> None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)

        for p in learnable.parameters():
            if p.requires_grad:
                p.register_post_accumulate_grad_hook(average)

    # ------------------------------------------------------------------ training
    def before_train(self) -> None:
        if self.total_iters is None:
            raise ValueError(self.cannot_train)
        super().before_train()

    def epoch_batches(self) -> int:
        """The iteration budget: whole epochs, then the rest in the last one."""
        return min(len(self.train_loader_x), self.total_iters - self.epoch * len(self.train_loader_x))

    def after_epoch(self) -> None:
        super().after_epoch()
        if self.epoch + 1 == self.max_epoch and is_main_process():
            path = os.path.join(self.output_dir, self.learnable, f"{self.cfg.TRAINER.CLIP_LORA.FILENAME}.pt")
            atomic_torch_save(to_official(self._models[self.learnable]), path)
            print(f"LoRA weights also saved in the official format to {path}")

    # ------------------------------------------------------------------ checkpoints
    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Our run folder (``clip_lora/model.pth.tar-<epoch>``; epoch None: the final one) or an official
        folder holding ``<FILENAME>.pt``. The adapter settings must be those the checkpoint was trained with."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        adapters = self._models[self.learnable]
        ours = os.path.join(directory, self.learnable)
        official = os.path.join(directory, f"{self.cfg.TRAINER.CLIP_LORA.FILENAME}.pt")
        if not os.path.isdir(ours) and os.path.isfile(official):
            payload = safe_load(official, what="CLIP-LoRA checkpoint")
            state = from_official(payload, adapters, official)
            load_state_dict_checked(adapters, state, official)
            print(f'Loaded the official LoRA weights from "{official}"')
            return
        path = final_checkpoint(ours) if epoch is None else os.path.join(ours, f"model.pth.tar-{epoch}")
        if not os.path.exists(path):
            raise FileNotFoundError(f'Model not found at "{path}"')
        checkpoint = load_checkpoint(path)
        stored = checkpoint.get("config") or {}
        for key in ADAPTER_KEYS:
            full = f"TRAINER.CLIP_LORA.{key}"
            now = self.cfg.TRAINER.CLIP_LORA[key]
            if full in stored and list(stored[full] if key == "PARAMS" else [stored[full]]) != list(
                    now if key == "PARAMS" else [now]):
                raise ValueError(f'"{path}" was trained with {full} {stored[full]!r}, this run has {now!r}: set it '
                                 "to the checkpoint's value")
        print(f'Loading weights to {self.learnable} from "{path}" (epoch = {checkpoint["epoch"]})')
        load_state_dict_checked(adapters, checkpoint["state_dict"], path)

    def method_details(self) -> str:
        c = self.cfg.TRAINER.CLIP_LORA
        return f"r={c.R}, alpha={c.ALPHA:g}, {''.join(c.PARAMS)}, {c.ENCODER}, {c.POSITION}"
