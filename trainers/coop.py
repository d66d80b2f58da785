"""CoOp (Zhou et al., IJCV 2022): learned context vectors in front of / around the class name.

Unified or class-specific (CSC) context; class token at the end, middle or front; context from
words (CTX_INIT) or Gaussian (std 0.02). The text encoder, prompt assembly, precision handling and
training step are shared (vlprompt.clip, vlprompt.engine.CLIPTrainer); this file only wires them.
"""
import torch
import torch.nn.functional as F

from vlprompt.clip import EncodingPlan, PromptCLIP, PromptLearner, TextEncoder, clip_dtype
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer


class CoOpCLIP(PromptCLIP):
    def __init__(self, clip_model, prompt_learner: PromptLearner):
        super().__init__(clip_model)
        self.prompt_learner = prompt_learner
        self.text_encoder = TextEncoder(clip_model)

    def text_features(self, plan: EncodingPlan = None) -> torch.Tensor:
        pl = self.prompt_learner
        plan = plan or pl.plan
        return F.normalize(self.text_encoder.encode(pl(plan), plan), dim=-1)


@TRAINER_REGISTRY.register()
class CoOp(CLIPTrainer):
    prec_key = "COOP"
    learnable = "prompt_learner"

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        declare(cfg, "TRAINER.COOP", N_CTX=16, CSC=False, CTX_INIT="",
                PREC="fp16",  # fp16 | fp32 | amp
                CLASS_TOKEN_POSITION="end")  # end | middle | front

    @classmethod
    def output_variant(cls, cfg) -> str:
        c = cfg.TRAINER.COOP  # the original scripts' folder: nctx16_cscFalse_ctpend
        return f"nctx{c.N_CTX}_csc{c.CSC}_ctp{c.CLASS_TOKEN_POSITION}"

    def build_prompt_learner(self, classnames, clip_model) -> PromptLearner:
        c = self.cfg.TRAINER.COOP
        return PromptLearner(clip_model, classnames, n_ctx=c.N_CTX, ctx_init=c.CTX_INIT, csc=c.CSC,
                             class_token_position=c.CLASS_TOKEN_POSITION, dtype=clip_dtype(clip_model),
                             fast=self.fast_text)

    def build_custom_clip(self, classnames, clip_model):
        return CoOpCLIP(clip_model, self.build_prompt_learner(classnames, clip_model))

    def check_new_classes(self, classnames) -> None:
        c = self.cfg.TRAINER.COOP
        if c.CSC and not c.CTX_INIT:
            raise ValueError("This CoOp model has class-specific contexts (CSC True): one context per training "
                             "class, none for new class names. Only unified-context models transfer to new classes.")

    def method_details(self) -> str:
        c = self.cfg.TRAINER.COOP
        return f"M={c.N_CTX}, {'CSC' if c.CSC else 'unified'}, {c.CLASS_TOKEN_POSITION}"
