"""KgCoOp, ProGrad and TCP on the MiniCLIP world: MiniShades base-to-new against CoOp and zero-shot.

The papers' claim: regularising toward the hand-crafted prompt keeps new-class accuracy where CoOp loses
it. On MiniShades, whose base classes are warm shades and new classes cool ones (docs/miniclip.md), every
adaptation learned on the base classes costs the new ones; measured over seeds 1-3 (docs/miniclip.md,
"KgCoOp, ProGrad and TCP"): the KG term does keep the new classes closer to zero-shot (KgCoOp, TCP),
ProGrad's projection does not reliably, and none of the three reaches zero-shot's new accuracy at the
released weights. The runs here use seed 1; every margin below holds for each of seeds 1-3.
"""
import pytest

from vlprompt.mini import report

SEED = 1
STEM = "mini_shades"
CFG = {"CoOp": report.BASE2NEW_CFG, "KgCoOp": "mini_ep100_ctxv1", "ProGrad": "mini_ep100", "TCP": "mini_ep50"}
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def mini(tmp_path_factory, clip_cache):
    root = tmp_path_factory.getbasetemp() / "miniclip_data"  # shared with the other MiniCLIP tests
    root.mkdir(exist_ok=True)
    out = tmp_path_factory.mktemp("text_successor_runs")
    cache = {}

    def zs(sub):
        if ("zs", sub) not in cache:
            cache["zs", sub] = report.zeroshot(str(root), str(out), STEM, sub, opts=["MODEL.BACKBONE.CACHE_DIR", clip_cache])
        return cache["zs", sub]

    def base2new(trainer, *opts):
        """(base, new) accuracy of ``trainer`` trained on the base classes (16 shots), ``opts`` on top of its config."""
        key = (trainer,) + opts
        if key not in cache:
            # Ablations get their own output root (their folders would otherwise be the released runs').
            runs = out / ("_".join(opts).replace(".", "") or "released")
            args = (str(root), str(runs), STEM)
            o = ["MODEL.BACKBONE.CACHE_DIR", clip_cache, *opts]
            base = report.train_test(*args, 16, SEED, "base", CFG[trainer], o, trainer)
            cache[key] = (base, report.evaluate_on_new(*args, SEED, cfg=CFG[trainer], opts=o, trainer=trainer))
        return cache[key]

    return zs, base2new


def h(base_new):
    base, new = base_new
    return 2 * base * new / (base + new)


def test_kgcoop_keeps_new_classes_closer_to_zero_shot_than_coop(mini):
    """Measured (seeds 1/2/3), new: KgCoOp 60.0 / 61.3 / 61.3, CoOp 56.3 / 56.3 / 55.4, zero-shot 67.1;
    KgCoOp with W 0 on its own schedule 58.3 / 58.8 / 58.8: part of the gain is the shorter schedule
    (100 steps of batch 128 vs CoOp's 200 of 32), the KG term adds 1.7-2.5 points."""
    zs, base2new = mini
    coop, kgcoop, no_kg = base2new("CoOp"), base2new("KgCoOp"), base2new("KgCoOp", "TRAINER.COOP.W", "0.0")
    assert kgcoop[1] > coop[1] + 3, (kgcoop, coop)
    assert kgcoop[1] > no_kg[1] + 1, (kgcoop, no_kg)
    assert kgcoop[0] > zs("base") + 3, kgcoop  # it still adapts to the base classes
    # What does not hold at the released W 8.0: the new classes stay below zero-shot (W 32: 65.4 vs 67.1),
    # and H stays below CoOp's (64.1 vs 65.2 on average): on MiniShades base and new trade off.
    assert kgcoop[1] < zs("new") and h(kgcoop) < h(coop)


def test_tcp_kg_term_protects_new_classes_and_class_aware_tokens_fit_the_base(mini):
    """Measured (seeds 1/2/3): TCP base 92.1 / 89.6 / 90.0, new 53.8 / 57.5 / 55.4; without the KG term
    (KG_WEIGHT 0) new 49.6 / 49.6 / 51.7; CoOp base 77.5 / 77.9 / 78.8."""
    _, base2new = mini
    coop, tcp, no_kg = base2new("CoOp"), base2new("TCP"), base2new("TCP", "TRAINER.TCP.KG_WEIGHT", "0.0")
    assert tcp[1] > no_kg[1] + 3, (tcp, no_kg)
    assert tcp[0] > coop[0] + 8, (tcp, coop)
    assert h(tcp) > h(coop) + 2, (tcp, coop)  # measured +2.7 / +4.7 / +3.5, through the base classes


def test_prograd_gains_on_base_without_losing_new_classes_against_coop(mini):
    """Measured (seeds 1/2/3): ProGrad base 89.2 / 94.6 / 83.8, new 59.2 / 56.3 / 55.4 (CoOp new 56.3 / 56.3 /
    55.4). Not reproduced: the projection (vs LOSS.LAMBDA 0) changes new-class accuracy by +5.8 / -2.1 / -4.6
    points, i.e. within seed noise (docs/miniclip.md)."""
    _, base2new = mini
    coop, prograd = base2new("CoOp"), base2new("ProGrad")
    assert prograd[0] > coop[0] + 4, (prograd, coop)
    assert prograd[1] >= coop[1] - 1, (prograd, coop)
    assert h(prograd) > h(coop) + 1, (prograd, coop)
