"""CoOp (Zhou et al., IJCV 2022): learned context vectors in front of / around the class name.

Unified or class-specific (CSC) context; class token at the end, middle or front; context from
words (CTX_INIT) or Gaussian (std 0.02). The text encoder, prompt assembly, precision handling and
training step are shared (vlprompt.clip, vlprompt.engine.CLIPTrainer); this file only wires them.
"""
import torch
import torch.nn.functional as F

from vlprompt.clip import PromptCLIP, PromptLearner, TextEncoder, clip_dtype
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer


class CoOpCLIP(PromptCLIP):
    def __init__(self, clip_model, prompt_learner: PromptLearner):
        super().__init__(clip_model)
        self.prompt_learner = prompt_learner
        self.text_encoder = TextEncoder(clip_model)

    def text_features(self) -> torch.Tensor:
        pl = self.prompt_learner
        features = self.text_encoder.encode(pl(), pl.eot_indices, shared_len=pl.shared_len,
                                            length_groups=pl.length_groups)
        return F.normalize(features, dim=-1)


@TRAINER_REGISTRY.register()
class CoOp(CLIPTrainer):
    prec_key = "COOP"
    learnable = "prompt_learner"

    def build_custom_clip(self, classnames, clip_model):
        c = self.cfg.TRAINER.COOP
        prompt_learner = PromptLearner(
            clip_model, classnames, n_ctx=c.N_CTX, ctx_init=c.CTX_INIT, csc=c.CSC,
            class_token_position=c.CLASS_TOKEN_POSITION, dtype=clip_dtype(clip_model),
        )
        return CoOpCLIP(clip_model, prompt_learner)

    def method_tag(self) -> str:
        c = self.cfg.TRAINER.COOP
        return f"CoOp (M={c.N_CTX}, {'CSC' if c.CSC else 'unified'}, {c.CLASS_TOKEN_POSITION})"
