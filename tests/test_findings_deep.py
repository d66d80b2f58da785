"""The base-to-new findings of IVLP, MaPLe and PromptSRC, reproduced on the MiniCLIP world through train.py.

Measured over seeds 1-3 in docs/miniclip.md (section "IVLP, MaPLe and PromptSRC"); the margins below hold for
every one of those seeds (the runs here use seed 1). Configs: the official recipes with the prompt depth scaled to
MiniCLIP's 3 text / 4 vision blocks (``configs/trainers/{IVLP,MaPLe,PromptSRC}/mini_*``); CoOp and CoCoOp with
the configs of tests/test_miniclip_findings.py. What does not reproduce is documented there, not asserted here.
"""
import pytest

from vlprompt.mini import report

pytestmark = pytest.mark.usefixtures("one_thread")
SEED = 1
CFG = {"CoOp": report.BASE2NEW_CFG, "CoCoOp": report.COCOOP_CFG, "IVLP": "mini_ep5_batch4_2+2ctx",
       "MaPLe": "mini_ep5_batch4_2ctx", "PromptSRC": "mini_ep20_batch4_4+4ctx"}
IVLP_BASELINE = "mini_ep20_batch4_4+4ctx"  # PromptSRC's own baseline: the same prompts without its losses and GPA


@pytest.fixture(scope="module")
def b2n(tmp_path_factory, clip_cache):
    """(base, new) accuracy of a trainer trained on the base classes (16 shots, seed 1); "ZS": zero-shot."""
    root = tmp_path_factory.getbasetemp() / "miniclip_data"  # shared with the other MiniCLIP test modules
    root.mkdir(exist_ok=True)
    out = str(tmp_path_factory.mktemp("miniclip_deep_runs"))
    opts = ["MODEL.BACKBONE.CACHE_DIR", clip_cache]
    cache = {}

    def run(stem, trainer, cfg=None):
        key = (stem, trainer, cfg)
        if key not in cache:
            if trainer == "ZS":
                cache[key] = tuple(report.zeroshot(str(root), out, stem, sub, opts=opts) for sub in ("base", "new"))
            else:
                cfg = cfg or CFG[trainer]
                base = report.train_test(str(root), out, stem, 16, SEED, "base", cfg, opts, trainer)
                cache[key] = (base, report.evaluate_on_new(str(root), out, stem, SEED, cfg=cfg, opts=opts, trainer=trainer))
        return cache[key]

    return run


def h(pair):
    base, new = pair
    return 2 * base * new / (base + new)


def test_deep_prompts_generalise_to_new_classes_under_an_instance_level_light(b2n):
    """MaPLe / PromptSRC papers: deep prompts beat CoCoOp's image-conditioned text context on the new classes
    and on H. On MiniLights the light depends on each image and the image shows it: prompts inside the image
    encoder learn to correct the image features for every class (measured, mean of seeds 1-3: new 90.4 / 91.8 vs
    CoCoOp 81.9, H 91.1 / 91.5 vs 81.8; zero-shot new 69.6)."""
    cocoop, zs = b2n("mini_lights", "CoCoOp"), b2n("mini_lights", "ZS")
    for trainer in ("IVLP", "MaPLe"):
        got = b2n("mini_lights", trainer)
        assert got[1] > cocoop[1] + 3 and got[1] > zs[1] + 15, (trainer, got, cocoop, zs)
        assert h(got) > h(cocoop) + 5, (trainer, got, cocoop)


def test_vision_prompts_fit_the_base_classes_far_beyond_text_prompts(b2n):
    """With prompts in the image encoder the base classes of MiniShades (each in its own shade) are fitted far
    better than by text-side context (measured: base 92-97 vs CoOp 78.1, CoCoOp 82.9) -- and, since MiniShades'
    new classes are shaded the other way, the new classes lose more (docs/miniclip.md)."""
    coop, cocoop = b2n("mini_shades", "CoOp"), b2n("mini_shades", "CoCoOp")
    for trainer, cfg in (("IVLP", IVLP_BASELINE), ("MaPLe", None), ("PromptSRC", None)):
        base, new = b2n("mini_shades", trainer, cfg)
        assert base > cocoop[0] + 5 and base > coop[0] + 10, (trainer, base, coop, cocoop)
        assert new < coop[1], (trainer, new, coop)


def test_promptsrc_regulation_keeps_the_new_classes_closer_to_zero_shot(b2n):
    """PromptSRC paper: the self-regulating losses and GPA raise the new-class accuracy and H over the same
    prompts trained without them (its IVLP baseline). Measured on MiniShades (seeds 1 / 2 / 3): new +5.4 / +9.6 /
    +14.6, H +3.4 / +8.4 / +12.3 (base -5.4 / -2.1 / -5.4: unlike the paper, base does not stay level)."""
    src, ivlp = b2n("mini_shades", "PromptSRC"), b2n("mini_shades", "IVLP", IVLP_BASELINE)
    assert src[1] > ivlp[1] + 4, (src, ivlp)
    assert h(src) > h(ivlp) + 2, (src, ivlp)
