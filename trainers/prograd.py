"""ProGrad (Zhu et al., ICCV 2023): CoOp updated only with the part of the cross-entropy gradient that
does not conflict with the gradient toward the zero-shot CLIP's prediction.

Per step: student logits s (CoOp's prompts), teacher logits z of a frozen zero-shot CLIP in fp32 with
ProGrad's template (``PROGRAD_TEMPLATES``; other datasets: the reader's template); xe = CE(s, y);
kl = T^2 * mean_b sum_c -softmax(z/T)_c log_softmax(s/T)_c (``LOSS.T``). Per parameter tensor, when
<g_xe, g_kl> < 0 the update uses g_xe - lambda * <g_xe, g_kl_hat> g_kl_hat (``LOSS.LAMBDA``), else g_xe;
the kl gradient itself is never added. ``TRAINER.COOP.CTX_INIT True`` = ProGrad's init: the template's
words before " {}." fill the last context vectors, the leading ones are zeros.

How the two gradients are computed: one forward; both losses depend on the context only through the
class text features t, so their (cheap) gradients with respect to t are taken first and then pulled back
through the text encoder together, as one batched vector-Jacobian product (``is_grads_batched``): one
backward pass for both, instead of the official two full backward passes. The teacher's image features
equal the student's when the image encoder runs in fp32 without autocast (the same frozen weights on
the same input): they are reused then (exact) and computed by an fp32 copy of the image tower otherwise.
"""
from __future__ import annotations

import contextlib
import copy

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import PromptLearner, class_prompts, clip_dtype, encode_class_prompts, text_tower
from vlprompt.config import bool_as_string, declare, declare_coercion
from vlprompt.engine import TRAINER_REGISTRY, compute_accuracy
from vlprompt.trainers.coop import CoOp, CoOpCLIP
from vlprompt.utils.dist import get_world_size, is_distributed

# BeierZhu/Prompt-align, ProGrad.public/trainers/prograd.py CUSTOM_TEMPLATES.
PROGRAD_TEMPLATES = {
    "OxfordPets": "a type of pet, a photo of a {}.",
    "OxfordFlowers": "a type of flower, a photo of a {}.",
    "FGVCAircraft": "a type of aircraft, a photo of a {}.",
    "DescribableTextures": "a texture of {}.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a type of food, a photo of {}.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}


def prograd_context(clip_model: nn.Module, template: str, n_ctx: int, dtype: torch.dtype):
    """ProGrad's initial context for CTX_INIT True: (vectors (n_ctx, D), the words standing for them).

    The k words of ``template`` before " {}." initialise the last k context vectors with the embeddings of
    their first k BPE tokens; the leading n_ctx - k are zeros and written "X". With punctuation the
    words have more than k tokens: the remaining ones stay fixed text after the context (as the official)."""
    words = template.replace(" {}.", "").replace("_", " ")
    if "{}" in words:
        raise ValueError(f'ProGrad\'s CTX_INIT True needs a template ending in " {{}}.", got "{template}"')
    k = len(words.split(" "))
    if n_ctx < k:
        raise ValueError(f'TRAINER.COOP.N_CTX {n_ctx} is smaller than the {k} words of ProGrad\'s initial prompt '
                         f'"{words}": use N_CTX >= {k}')
    tower = text_tower(clip_model)
    weight = tower.token_embedding.weight
    with torch.no_grad():
        embedding = tower.token_embedding(tower.tokenize(words).to(weight.device))
    ctx = torch.zeros(n_ctx, weight.shape[1], dtype=dtype)
    ctx[n_ctx - k:] = embedding[0, tower.lead:tower.lead + k].to(dtype).cpu()
    return ctx, " ".join(["X"] * (n_ctx - k) + [words])


def prograd_losses(student_logits: torch.Tensor, teacher_logits: torch.Tensor, label: torch.Tensor, T: float):
    """(xe, kl) in fp32: CE on the student; the soft cross-entropy toward the teacher at temperature T,
    times T^2 (same gradient as KL(teacher || student))."""
    s = student_logits.float()
    xe = F.cross_entropy(s, label)
    p_teacher = F.softmax(teacher_logits.float() / T, dim=-1)
    kl = (-p_teacher * F.log_softmax(s / T, dim=-1) * T * T).sum(1).mean()
    return xe, kl


def project_conflicting(g_xe: torch.Tensor, g_kl: torch.Tensor, lam: float) -> torch.Tensor:
    """g_xe, minus lam times its component along g_kl when the two point in conflicting directions
    (<g_xe, g_kl> < 0), per parameter tensor as the official code; a zero gradient projects nothing.
    Branch-free (no device synchronisation); computed in fp32, returned in g_xe's dtype."""
    a, b = g_xe.float().flatten(), g_kl.float().flatten()
    b_hat = b / torch.linalg.vector_norm(b).clamp_min(torch.finfo(torch.float32).tiny)
    along = torch.dot(a, b_hat)
    return (a - lam * torch.where(along < 0, along, torch.zeros_like(along)) * b_hat).view_as(g_xe).to(g_xe.dtype)


def loss_gradients(xe: torch.Tensor, kl: torch.Tensor, text: torch.Tensor, params, batched: bool = True,
                   keep_graph: bool = False):
    """[(g_xe, g_kl) per parameter] of the two losses, which depend on ``params`` only through the class
    text features ``text``: their gradients with respect to ``text`` (cheap: logits only) are pulled back
    through the text encoder together, as one batched vector-Jacobian product (``batched``), or in two
    passes. (With a grad scaler, pass the scaled losses.)"""
    g_text = torch.stack([torch.autograd.grad(loss, text, retain_graph=True)[0] for loss in (xe, kl)])
    if batched:
        grads = torch.autograd.grad(text, params, grad_outputs=g_text, is_grads_batched=True, retain_graph=keep_graph)
        return [(g[0], g[1]) for g in grads]
    g_xe = torch.autograd.grad(text, params, grad_outputs=g_text[0], retain_graph=True)
    g_kl = torch.autograd.grad(text, params, grad_outputs=g_text[1], retain_graph=keep_graph)
    return list(zip(g_xe, g_kl))


class ProGradCLIP(CoOpCLIP):
    """CoOp's model + the zero-shot teacher: fp32 class text features (a buffer, not saved) and, when the
    student's image tower is not fp32, an fp32 copy of it."""

    def __init__(self, clip_model, prompt_learner: PromptLearner, teacher_text_features: torch.Tensor,
                 teacher_visual: nn.Module = None):
        super().__init__(clip_model, prompt_learner)
        self.register_buffer("teacher_text_features", teacher_text_features.float(), persistent=False)
        self.teacher_visual = teacher_visual  # None: the student's image encoder is fp32 and serves as teacher

    @torch.no_grad()
    def teacher_logits(self, image: torch.Tensor, student_image_features: torch.Tensor = None) -> torch.Tensor:
        """Zero-shot logits in fp32 (autocast off). ``student_image_features``: the student's normalised
        image features when computed in fp32 without autocast (then they are the teacher's too)."""
        device_type = image.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            if student_image_features is not None:
                feats = student_image_features.float()
            else:
                visual = self.teacher_visual if self.teacher_visual is not None else self.image_encoder
                feats = F.normalize(visual(image.float()).float(), dim=-1)
            return self.logit_scale.exp().float() * feats @ self.teacher_text_features.t()


@TRAINER_REGISTRY.register()
class ProGrad(CoOp):
    teacher_templates = PROGRAD_TEMPLATES

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        declare_coercion(cfg, "TRAINER.COOP.CTX_INIT", bool_as_string)  # official YAMLs: CTX_INIT True
        declare(cfg, "LOSS",
                NAME="",  # must be "prograd" (as the official train.py)
                T=1.0,  # distillation temperature
                LAMBDA=1.0)  # projection strength (README: 0.8 for 8/16 shots on Flowers102, DTD, EuroSAT)

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        if cfg.LOSS.NAME != "prograd":
            raise ValueError(f'ProGrad needs LOSS.NAME "prograd" (as its configs set), got "{cfg.LOSS.NAME}"')
        if cfg.LOSS.T <= 0:
            raise ValueError(f"LOSS.T (temperature) must be > 0, got {cfg.LOSS.T}")

    def teacher_template(self) -> str:
        return self.teacher_templates.get(self.cfg.DATASET.NAME, self.dm.dataset.template)

    def build_prompt_learner(self, classnames, clip_model) -> PromptLearner:
        c = self.cfg.TRAINER.COOP
        dtype = clip_dtype(clip_model)
        context = None
        if c.CTX_INIT == "True":
            context = prograd_context(clip_model, self.teacher_template(), c.N_CTX, dtype)
        return PromptLearner(clip_model, classnames, n_ctx=c.N_CTX, ctx_init=c.CTX_INIT if context is None else "",
                             csc=c.CSC, class_token_position=c.CLASS_TOKEN_POSITION, dtype=dtype,
                             fast=self.fast_text, context=context)

    def build_custom_clip(self, classnames, clip_model):
        template = self.teacher_template()
        print(f"Zero-shot teacher prompts: {class_prompts(template, classnames)[:3]} ...")
        teacher_visual = None
        teacher = clip_model
        if clip_dtype(clip_model) != torch.float32:  # the official teacher is an fp32 CLIP
            teacher = copy.deepcopy(clip_model).float()
            teacher_visual = teacher.visual
        text = encode_class_prompts(teacher, classnames, [template])
        del teacher
        return ProGradCLIP(clip_model, self.build_prompt_learner(classnames, clip_model), text, teacher_visual)

    # ---------------------------------------------------------------- the update
    def _no_sync(self):
        """Distributed: the two gradients are averaged by hand below (DDP's hooks only see .backward())."""
        learnable = getattr(self.model, self.learnable)
        return learnable.no_sync() if is_distributed() and hasattr(learnable, "no_sync") else contextlib.nullcontext()

    def losses(self, image: torch.Tensor, label: torch.Tensor):
        """(xe, kl, student logits, class text features) of a batch; the forward runs once."""
        model = self.model
        with self.autocast():
            image_features = model.encode_image(image)
            text = model.text_features()
            logits = model.logits(image_features, text)
        reuse = self.autocast_dtype() is None and image_features.dtype == torch.float32
        teacher = model.teacher_logits(image, image_features if reuse else None)
        xe, kl = prograd_losses(logits, teacher, label, self.cfg.LOSS.T)
        return xe, kl, logits, text

    _batched_vjp = None  # whether the batched backward works on this run's device (known after the first step)

    def gradients(self, xe: torch.Tensor, kl: torch.Tensor, text: torch.Tensor, params):
        """[(g_xe, g_kl) per parameter] (:func:`loss_gradients`): batched; two passes where it is unavailable."""
        if self._batched_vjp is not False:
            try:
                pairs = loss_gradients(xe, kl, text, params, batched=True, keep_graph=self._batched_vjp is None)
                self._batched_vjp = True
                return pairs
            except RuntimeError as e:  # an operation without a batched backward on this device
                if self._batched_vjp:
                    raise
                print(f"Note: batched backward unavailable ({str(e).splitlines()[0][:120]}); using two backward passes")
                self._batched_vjp = False
        return loss_gradients(xe, kl, text, params, batched=False)

    def forward_backward(self, batch) -> dict:
        image, label = self.parse_batch_train(batch)
        learnable = getattr(self.model, self.learnable)
        params = [p for p in learnable.parameters() if p.requires_grad]
        with self._no_sync():
            xe, kl, logits, text = self.losses(image, label)
            self.detect_anomaly(kl)
            self.detect_anomaly(xe)
            if self.scaler is not None:  # fp16 autocast: scaled losses, so small gradients survive in fp16
                pairs = self.gradients(self.scaler.scale(xe), self.scaler.scale(kl), text, params)
            else:
                pairs = self.gradients(xe, kl, text, params)
        if is_distributed():  # the mean over processes = the gradient of the global batch's mean loss
            flat = torch.cat([torch.cat([a.flatten(), b.flatten()]) for a, b in pairs])
            dist.all_reduce(flat)
            flat /= get_world_size()
            out, i = [], 0
            for a, b in pairs:
                out.append((flat[i:i + a.numel()].view_as(a), flat[i + a.numel():i + 2 * a.numel()].view_as(b)))
                i += 2 * a.numel()
            pairs = out
        self.model_zero_grad()
        lam = self.cfg.LOSS.LAMBDA
        for p, (g_xe, g_kl) in zip(params, pairs):
            p.grad = project_conflicting(g_xe, g_kl, lam)
        if self.scaler is not None:  # the projection is scale-equivariant: the scaler unscales the result
            self.scaler.step(self.optim)
            self.scaler.update()
        else:
            self.model_update()
        return {"xe_loss": xe.item(), "kl_loss": kl.item(), "acc": compute_accuracy(logits, label)}

    def method_details(self) -> str:
        pl = self.model.prompt_learner
        return f"M={pl.n_ctx}, lambda={self.cfg.LOSS.LAMBDA:g}, T={self.cfg.LOSS.T:g}"
