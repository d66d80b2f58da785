"""Tip-Adapter, Tip-Adapter-F and CLIP-LoRA on the MiniCLIP world, next to zero-shot CLIP, LinearProbe, CoOp
and CLIP-Adapter: MiniShapesTinted (24 classes under a coloured light), 1 and 16 shots.

Measured over seeds 1-3 in docs/miniclip.md ("Tip-Adapter, Tip-Adapter-F and CLIP-LoRA"); the runs here use
seed 1 and the margins below hold for every one of those seeds. About a dozen train.py runs of seconds each.
"""
import pytest

from vlprompt.mini import report

SEED = 1
STEM = "mini_shapes_tinted"


@pytest.fixture(scope="module")
def mini(tmp_path_factory, clip_cache):
    root = tmp_path_factory.getbasetemp() / "miniclip_data"  # shared with the other MiniCLIP test modules
    root.mkdir(exist_ok=True)
    out = str(tmp_path_factory.mktemp("adapter_runs"))
    opts = ["MODEL.BACKBONE.CACHE_DIR", clip_cache, "TRAINER.FEATURES.CACHE_DIR", str(tmp_path_factory.mktemp("feat"))]
    cache = {}
    configs = {**report.ADAPTER_CFGS, **report.BASELINE_CFGS, "CoOp": report.COOP_CFG}

    def run(trainer, shots=16):
        key = (trainer, shots)
        if key not in cache:
            if trainer == "ZeroshotCLIP":
                cache[key] = report.zeroshot(str(root), out, STEM, "all", opts)
            else:
                cache[key] = report.train_test(str(root), out, STEM, shots, SEED, "all", configs[trainer], opts, trainer)
        return cache[key]

    return run


def test_the_cache_beats_zero_shot_and_fine_tuning_it_helps_with_few_shots(mini):
    """Tip-Adapter paper, Figs. 4-5: the training-free cache model adds much to zero-shot CLIP, and
    fine-tuning its keys (Tip-Adapter-F) adds more. Measured (seeds 1 / 2 / 3): zero-shot 48.8; 1 shot
    Tip-Adapter 63.2 / 60.2 / 63.2, Tip-Adapter-F 63.7 / 66.8 / 64.1 (F also ahead at 2, 4 and 8 shots, every
    seed); 16 shots 92.2 / 90.1 / 90.6 and 92.5 / 90.1 / 88.9: there the two are equal within seed noise
    (docs/miniclip.md: what does not reproduce)."""
    zero_shot = mini("ZeroshotCLIP")
    assert mini("TipAdapter", 1) > zero_shot + 10 and mini("TipAdapter") > zero_shot + 35
    assert mini("TipAdapterF", 1) > mini("TipAdapter", 1)
    assert abs(mini("TipAdapterF") - mini("TipAdapter")) < 2.5


def test_clip_lora_is_the_strongest_at_16_shots(mini):
    """CLIP-LoRA paper, Table 1: LoRA in both encoders beats the adapter, cache and prompt methods with 16 shots;
    Tip-Adapter paper, Fig. 4: the cache beats CLIP-Adapter and CoOp. Measured (seeds 1 / 2 / 3): CLIP-LoRA
    97.4 / 96.5 / 97.2, LinearProbe 94.8 / 95.3 / 93.9, Tip-Adapter 92.2 / 90.1 / 90.6, Tip-Adapter-F
    92.5 / 90.1 / 88.9, CLIP-Adapter 83.3 / 85.1 / 87.8, CoOp 82.1 / 84.5 / 75.3."""
    lora = mini("CLIP_LoRA")
    others = {t: mini(t) for t in ("TipAdapterF", "TipAdapter", "LinearProbe", "CLIP_Adapter", "CoOp")}
    assert lora > max(others.values()) + 1, (lora, others)
    assert min(others["TipAdapter"], others["TipAdapterF"]) > others["CoOp"] + 5, others
    assert others["TipAdapter"] > others["CLIP_Adapter"] + 2, others


def test_accuracy_grows_with_shots_and_the_cache_wins_with_one_shot(mini):
    """All three gain from 1 to 16 shots; with one shot the training-free cache is ahead of CLIP-LoRA (10
    iterations at one shot, 160 at 16). Measured 1-shot Tip-Adapter 63.2 / 60.2 / 63.2, CLIP-LoRA 54.2 / 53.8 /
    53.0; CLIP-LoRA leads from 4 shots on (91.7 / 90.1 / 93.8 vs Tip-Adapter-F 83.0 / 89.4 / 84.5)."""
    for trainer in ("TipAdapter", "TipAdapterF", "CLIP_LoRA"):
        assert mini(trainer, 16) > mini(trainer, 1) + 20, trainer
    assert mini("TipAdapter", 1) > mini("CLIP_LoRA", 1) + 5
