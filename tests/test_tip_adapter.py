"""Tip-Adapter and Tip-Adapter-F: the official search, the cache model, training, checkpoints (ours and the
official cache files), other class sets, the refused base-to-novel protocol, the scripts."""
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from vlprompt.config import setup_cfg
from vlprompt.engine import build_trainer
from vlprompt.testing.reference import reference_tip_search

from .helpers import CALTECH_CFG, REPO, coop_args, final_accuracy

TIP_TINY = str(REPO / "configs/trainers/TipAdapter/tiny.yaml")
TIPF_TINY = str(REPO / "configs/trainers/TipAdapterF/tiny.yaml")
pytestmark = pytest.mark.usefixtures("one_thread")


def _opts(tmp_path, *extra):
    return ["DATASET.NUM_SHOTS", "4", "TRAINER.FEATURES.CACHE_DIR", str(tmp_path / "features"), *extra]


def _trainer(name, config, data_root, clip_cache, tmp_path, opts=()):
    cfg = setup_cfg(dataset_config_file=CALTECH_CFG, config_file=config, opts=[
        "DATASET.ROOT", data_root, "MODEL.BACKBONE.CACHE_DIR", clip_cache, "OUTPUT_DIR", str(tmp_path / "unused"),
        "VERBOSE", "False", "TRAINER.NAME", name, *_opts(tmp_path), *opts])
    return build_trainer(cfg)


def test_search_equals_the_official_loop():
    """beta outer, alpha inner, first strictly best accuracy; the cache term computed once per beta gives
    the same choice as the official code's full recomputation (ties included: 30 val images, many ties)."""
    from vlprompt.trainers.tip_adapter import search_alpha_beta, search_grid

    g = torch.Generator().manual_seed(0)
    n_val, n_cache, dim, n_cls = 30, 12, 16, 4
    f = F.normalize(torch.randn(n_val, dim, generator=g), dim=-1)
    keys = F.normalize(torch.randn(n_cache, dim, generator=g) + 0.5 * f[:n_cache], dim=-1)
    labels = torch.randint(n_cls, (n_val,), generator=g)
    values = F.one_hot(labels[:n_cache], n_cls).float()
    w = F.normalize(torch.randn(n_cls, dim, generator=g), dim=-1)
    for scale, steps in [((12.0, 5.0), (200, 20)), ((7.0, 3.0), (13, 7))]:
        betas, alphas = search_grid(scale, steps)
        assert len(betas) == steps[0] and betas[0] == 0.1 and alphas[-1] == (steps[1] - 1) * (scale[1] - 0.1) / steps[1] + 0.1
        ours = search_alpha_beta(100.0 * f @ w.t(), f @ keys.t(), values, labels, betas, alphas, log=lambda *a: None)
        assert ours == reference_tip_search(f, labels, w.t(), keys.t(), values, scale, steps)


def test_cache_logits_follow_the_formula_and_alpha_zero_is_zero_shot(data_root, clip_cache, tmp_path):
    tip = _trainer("TipAdapter", TIP_TINY, data_root, clip_cache, tmp_path)
    zs = _trainer("ZeroshotCLIP", TIP_TINY, data_root, clip_cache, tmp_path)
    model = tip.model
    g = torch.Generator().manual_seed(1)
    cache = model.tip_adapter
    keys = F.normalize(torch.randn(cache.cache_keys.shape, generator=g), dim=-1)
    labels = torch.randint(8, (keys.shape[0],), generator=g)
    cache.fill(keys, labels)
    assert cache.cache_values.sum(1).eq(1).all() and torch.equal(cache.cache_values.argmax(1), labels)
    image = next(iter(zs.test_loader))["img"]
    with torch.no_grad():
        raw = model.image_encoder(image)
        f = F.normalize(raw, dim=-1)
        expected = 100 * f @ model.fixed_text_features.t() + 1.7 * torch.exp(-2.5 * (1 - f @ keys.t())) @ F.one_hot(labels, 8).float()
        torch.testing.assert_close(model.forward_features(raw, alpha=1.7, beta=2.5), expected, rtol=1e-5, atol=1e-4)
        zero_shot = zs.model_inference(image)  # exp(logit_scale) f W: the same classifier, another scale
        torch.testing.assert_close(model.forward_features(raw, alpha=0.0), zero_shot * 100 / zs.model.logit_scale.exp(),
                                   rtol=1e-5, atol=1e-4)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == []  # training-free
    assert tip.get_model_names() == ["tip_adapter"]


def test_tip_adapter_run_checkpoints_official_caches_and_other_class_sets(run_train, data_root, tmp_path):
    out = tmp_path / "tip"
    log = run_train(coop_args(data_root, out, trainer="TipAdapter", config=TIP_TINY), _opts(tmp_path))
    acc = final_accuracy(log)
    assert "Cache model: 32 keys (3 augmented views averaged per image)" in log
    assert "Searching hyperparameters on the val set" in log and "New best setting, beta:" in log
    alpha, beta = map(float, re.search(r"Chosen: alpha ([\d.]+), beta ([\d.]+)", log).groups())
    ckpt = torch.load(out / "tip_adapter/model.pth.tar-1", weights_only=True)
    state = ckpt["state_dict"]
    assert set(state) == {"cache_keys", "cache_values", "alpha", "beta", "class_ids"}
    assert state["cache_keys"].shape == (32, 32) and state["cache_values"].shape == (32, 8)
    torch.testing.assert_close(state["cache_keys"].norm(dim=-1), torch.ones(32))
    assert float(state["alpha"]) == pytest.approx(alpha, abs=1e-3) and float(state["beta"]) == pytest.approx(beta, abs=1e-3)

    def evaluate(model_dir, *opts):
        args = coop_args(data_root, tmp_path / f"eval{len(list(tmp_path.iterdir()))}", trainer="TipAdapter",
                         config=TIP_TINY) + ["--eval-only", "--model-dir", str(model_dir), "--load-epoch", "1"]
        return run_train(args, _opts(tmp_path, *opts))

    assert final_accuracy(evaluate(out)) == acc
    # The official cache folder (keys (D, N), one-hot values (N, C) in fp16): alpha/beta are searched again.
    official = tmp_path / "caches_caltech101"
    official.mkdir()
    torch.save(state["cache_keys"].t().contiguous(), official / "keys_4shots.pt")
    torch.save(state["cache_values"].half(), official / "values_4shots.pt")
    log_official = evaluate(official)
    assert "Loading the official Tip-Adapter cache" in log_official and "Searching hyperparameters" in log_official
    assert final_accuracy(log_official) == acc
    # Another class set: the classes of the cache (base half) work, restricted to their columns ...
    log_base = evaluate(out, "DATASET.SUBSAMPLE_CLASSES", "base")
    assert "the cache's 8 classes restricted to the 4 of this dataset" in log_base
    # ... classes the cache has no images of (a cache of the base half on the new half) are an error that
    # names them and says why.
    base = tmp_path / "tip_base"
    run_train(coop_args(data_root, base, trainer="TipAdapter", config=TIP_TINY),
              _opts(tmp_path, "DATASET.SUBSAMPLE_CLASSES", "base"))
    with pytest.raises(ValueError, match=r"cannot classify 4 of the 4 classes of this dataset \('airplane'.*one-hot labels"):
        evaluate(base, "DATASET.SUBSAMPLE_CLASSES", "new")


def test_restricted_cache_gives_the_full_models_logits_on_those_classes(data_root, clip_cache, tmp_path, run_train):
    out = tmp_path / "tip"
    run_train(coop_args(data_root, out, trainer="TipAdapter", config=TIP_TINY), _opts(tmp_path))
    full = _trainer("TipAdapter", TIP_TINY, data_root, clip_cache, tmp_path)
    base = _trainer("TipAdapter", TIP_TINY, data_root, clip_cache, tmp_path, ["DATASET.SUBSAMPLE_CLASSES", "base"])
    for t in (full, base):
        t.load_model(str(out), epoch=1)
    feats = base._split_features("test").features[0]
    with torch.no_grad():
        torch.testing.assert_close(base.model_inference(feats), full.model_inference(feats)[:, :4])


def test_tip_adapter_f_trains_per_iteration_selects_on_val_and_reloads(run_train, data_root, tmp_path):
    out = tmp_path / "tipf"
    log = run_train(coop_args(data_root, out, trainer="TipAdapterF", config=TIPF_TINY), _opts(tmp_path))
    acc = final_accuracy(log)
    assert "Tip-Adapter-F: 5 epochs x 2 iterations, cosine annealing per iteration" in log
    lrs = [float(x) for x in re.findall(r"epoch \[\d/5\] batch \[\d/2\] .* lr ([\d.e+-]+)", log)]
    expected = [0.005 * (1 + torch.cos(torch.tensor(torch.pi * (t + 1) / 10))).item() for t in range(10)]
    assert lrs == pytest.approx(expected, rel=1e-3, abs=1e-9)  # stepped after every iteration, 0 at the end
    assert "Extracting train features (32 images x 5 view(s))" in log  # one view per epoch, drawn separately
    assert "Deploy the model with the best val performance" in log
    best = torch.load(out / "tip_adapter/model-best.pth.tar", weights_only=True)
    final = torch.load(out / "tip_adapter/model.pth.tar-5", weights_only=True)
    assert torch.equal(best["state_dict"]["cache_keys"], final["state_dict"]["cache_keys"])  # the deployed epoch
    tip = torch.load(sorted((tmp_path / "features").glob("Caltech101_train_*.pt"))[0], weights_only=True)
    assert not torch.allclose(final["state_dict"]["cache_keys"], F.normalize(tip["features"].mean(0), dim=-1))  # trained
    args = coop_args(data_root, tmp_path / "eval", trainer="TipAdapterF", config=TIPF_TINY)
    eval_log = run_train(args + ["--eval-only", "--model-dir", str(out), "--load-epoch", "5"], _opts(tmp_path))
    assert final_accuracy(eval_log) == acc and "Searching" not in eval_log
    # The official files: the adapter weight (a Parameter (N, D)) next to the keys and values.
    official = tmp_path / "caches"
    official.mkdir()
    torch.save(final["state_dict"]["cache_keys"].t().contiguous(), official / "keys_4shots.pt")
    torch.save(final["state_dict"]["cache_values"], official / "values_4shots.pt")
    torch.save(torch.nn.Parameter(final["state_dict"]["cache_keys"]), official / "best_F_4shots.pt")
    args = coop_args(data_root, tmp_path / "eval_official", trainer="TipAdapterF", config=TIPF_TINY)
    log_official = run_train(args + ["--eval-only", "--model-dir", str(official)], _opts(tmp_path))
    assert "best_F_4shots.pt" in log_official and final_accuracy(log_official) == acc

    # Interrupted after 3 epochs, then resumed: the schedule, the views per epoch and the chosen epoch continue.
    from vlprompt.trainers.tip_adapter import TipAdapterF

    def stop(self):
        if self.epoch == 3:
            raise KeyboardInterrupt("stopped for the test")

    resumed = tmp_path / "resumed"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TipAdapterF, "before_epoch", stop)
        with pytest.raises(KeyboardInterrupt):
            run_train(coop_args(data_root, resumed, trainer="TipAdapterF", config=TIPF_TINY), _opts(tmp_path))
    run_train(coop_args(data_root, resumed, trainer="TipAdapterF", config=TIPF_TINY), _opts(tmp_path))
    assert "Previous epoch: 3" in sorted(resumed.glob("log.txt-*"))[-1].read_text()
    again = torch.load(resumed / "tip_adapter/model.pth.tar-5", weights_only=True)["state_dict"]
    for k, v in final["state_dict"].items():
        assert torch.equal(again[k], v), k


def test_base_to_novel_is_refused_with_the_explanation(script_env, capsys):
    work, env = script_env
    res = subprocess.run(["bash", "scripts/tip_adapter/base2new_train.sh", "caltech101", "1"], cwd=work, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "TipAdapter cannot run the base2new_train protocol: its cache holds the features" in res.stderr
    assert "one-hot labels over the training classes" in res.stderr and not (work / "output").exists()  # nothing ran
    from vlprompt.launch import ProtocolNotSupported, RunSpec, launch, main

    for trainer in ("TipAdapter", "TipAdapterF"):  # the other wrappers run the same launcher command
        for step in ("base2new_train", "base2new_test"):
            rc = main([step, "--trainer", trainer, "--dataset", "caltech101", "--config", "tiny", "--seeds", "1",
                       "--output-root", str(work / "output")])
            assert rc == 2 and f"{trainer} cannot run the {step} protocol" in capsys.readouterr().err
    with pytest.raises(ProtocolNotSupported, match="zero-shot CLIP"):  # the sweep and the report go through launch()
        launch([RunSpec("base2new_train", "TipAdapterF", "caltech101", "tiny", output_root=str(work / "output"))])
    assert not (work / "output").exists()


def test_main_scripts_train_three_seeds_and_parse(script_env):
    work, env = script_env
    env = dict(env, OMP_NUM_THREADS="1", VLPROMPT_IN_PROCESS="1")  # one interpreter start-up per script
    for method, trainer in (("tip_adapter", "TipAdapter"), ("tip_adapter_f", "TipAdapterF")):
        subprocess.run(["bash", f"scripts/{method}/main.sh", "caltech101", "tiny", "4"], cwd=work, env=env,
                       check=True, capture_output=True)
        exp = work / f"output/caltech101/{trainer}/tiny_4shots"
        assert sorted(p.name for p in exp.iterdir()) == ["seed1", "seed2", "seed3"]
        res = subprocess.run([sys.executable, "parse_test_res.py", str(exp)], cwd=work, env=env, check=True,
                             capture_output=True, text=True).stdout
        accs = [float(a) for a in re.findall(r"accuracy: ([\d.]+)%\. ", res)]
        assert len(accs) == 3 and f"* accuracy: {sum(accs) / 3:.2f}%" in res


def test_configs_merge_with_the_official_settings():
    from vlprompt.trainers.tip_adapter import TipAdapter

    for path in sorted((REPO / "configs/trainers").glob("TipAdapter*/*.yaml")):
        cfg = setup_cfg(config_file=str(path))
        assert cfg.TRAINER.TIP_ADAPTER.AUGMENT_EPOCH >= 1
    cfg = setup_cfg(dataset_config_file=str(REPO / "configs/datasets/oxford_flowers.yaml"),
                    config_file=str(REPO / "configs/trainers/TipAdapter/vit_b16.yaml"))
    assert TipAdapter.settings(cfg) == ((50.0, 50.0), 10.0)  # the official oxford_flowers.yaml
    cfg = setup_cfg(config_file=str(REPO / "configs/trainers/TipAdapterF/vit_b16_ep100.yaml"))
    assert cfg.OPTIM.MAX_EPOCH == 100 and cfg.TEST.FINAL_MODEL == "best_val" and cfg.TRAINER.TIP_ADAPTER.EPS == 1e-4
