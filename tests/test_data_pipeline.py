"""The faster data pipeline changes no number: decoded training images, prepared evaluation images and
persistent workers re-seeded each epoch give the batches, augmentations and results of the original."""
import re

import pytest
import torch

from vlprompt.config import setup_cfg
from vlprompt.data import build_dataset, build_transform
from vlprompt.data.data_manager import DatasetWrapper, build_data_loader
from vlprompt.data.pipeline import _EVAL_CACHE, clear_eval_cache, decode_images, split_transform

from .helpers import CALTECH_CFG, TINY_CFG, coop_args, final_accuracy

ORIGINAL = ["DATALOADER.PERSISTENT_WORKERS", "False", "DATALOADER.DECODED_CACHE_MB", "0", "DATALOADER.EVAL_CACHE_MB", "0"]


def _cfg(root, *opts):
    return setup_cfg(dataset_config_file=CALTECH_CFG, config_file=TINY_CFG,
                     opts=["DATASET.ROOT", root, "DATASET.NUM_SHOTS", "8", "SEED", "1", *opts])


def _epochs(loader, n=3):
    out = []
    for _ in range(n):
        out.append([(b["img"].clone(), b["label"].clone()) for b in loader])
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_gives_the_original_batches_and_rng_stream(data_root, workers):
    """Same images (crops and flips), same order, same global RNG afterwards, over several epochs."""
    base = ["DATALOADER.NUM_WORKERS", str(workers)]
    ds = build_dataset(_cfg(data_root))
    results = []
    for opts in (base + ORIGINAL, base):
        cfg = _cfg(data_root, *opts)
        decoded, _ = decode_images([d.impath for d in ds.train_x], cfg.DATALOADER.DECODED_CACHE_MB * 2 ** 20)
        loader = build_data_loader(cfg, ds.train_x, 8, build_transform(cfg, is_train=True), True, decoded=decoded)
        torch.manual_seed(123)
        batches = _epochs(loader)
        results.append((batches, torch.get_rng_state()))
    (a, rng_a), (b, rng_b) = results
    assert torch.equal(rng_a, rng_b)
    for epoch_a, epoch_b in zip(a, b):
        assert len(epoch_a) == len(epoch_b) == 8
        for (img_a, lab_a), (img_b, lab_b) in zip(epoch_a, epoch_b):
            assert torch.equal(img_a, img_b) and torch.equal(lab_a, lab_b)
    assert not torch.equal(a[0][0][0], a[1][0][0])  # epochs differ (the augmentation is not frozen)


def test_runs_are_identical_with_the_fast_pipeline(run_train, data_root, tmp_path):
    opts = ["DATASET.NUM_SHOTS", "8", "TRAINER.COOP.CSC", "True", "OPTIM.MAX_EPOCH", "3", "DATALOADER.NUM_WORKERS", "2"]
    logs = [run_train(coop_args(data_root, tmp_path / name), opts + extra)
            for name, extra in (("original", ORIGINAL), ("fast", []))]
    losses = [re.findall(r"loss ([\d.]+) \(", log) for log in logs]
    assert losses[0] == losses[1] and len(losses[0]) == 3  # one log line per epoch (PRINT_FREQ 5, 8 batches)
    assert final_accuracy(logs[0]) == final_accuracy(logs[1])
    ctx = [torch.load(tmp_path / name / "prompt_learner/model.pth.tar-3", weights_only=True)["state_dict"]["ctx"]
           for name in ("original", "fast")]
    assert torch.equal(*ctx)
    assert "Decoded training images: all 64 images kept in memory" in logs[1]
    assert re.search(r"Time: data [\d.]+ s \(\d+%\), forward/backward [\d.]+ s .* evaluation .*; total [\d.]+ s", logs[1])


def test_prepared_evaluation_images_are_the_same_tensors(data_root):
    clear_eval_cache()
    cfg = _cfg(data_root, "DATALOADER.NUM_WORKERS", "0")
    ds = build_dataset(cfg)
    tfm = build_transform(cfg, is_train=False)
    cached = DatasetWrapper(cfg, ds.test, transform=tfm)
    plain = DatasetWrapper(_cfg(data_root, "DATALOADER.EVAL_CACHE_MB", "0"), ds.test, transform=tfm)
    for i in range(5):
        assert torch.equal(cached[i]["img"], plain[i]["img"])
    assert len(_EVAL_CACHE) == 5
    for i in range(5):  # the second evaluation reads the cache: still the same tensors
        assert torch.equal(cached[i]["img"], plain[i]["img"])
    assert len(_EVAL_CACHE) == 5
    # A random transform (augmented views of training images) is never cached.
    assert split_transform(build_transform(cfg, is_train=True))[0] is None
    clear_eval_cache()


def test_decoded_cache_respects_its_budget(data_root):
    from vlprompt.data import DataManager

    cfg = _cfg(data_root, "DATALOADER.DECODED_CACHE_MB", "0", "DATALOADER.NUM_WORKERS", "0")
    assert DataManager(cfg).decoded_images == 0
    one_image = 32 * 32 * 3
    images, left = decode_images([d.impath for d in build_dataset(cfg).train_x], 10 * one_image)
    assert len(images) == 10 and left == 64 - 10


# ----------------------------------------------------------------- INPUT.GPU_AUGMENT (not exact, off by default)
def test_gpu_augment_crops_like_random_resized_crop_and_is_identity_on_a_whole_image():
    import numpy as np
    from PIL import Image
    from torchvision import transforms as T

    from vlprompt.data.gpu_augment import BatchAugmenter, crop_box

    g = torch.Generator().manual_seed(0)
    boxes = [crop_box(300, 500, (0.08, 1.0), g) for _ in range(2000)]
    for top, left, h, w in boxes:
        assert 0 <= top <= 300 - h and 0 <= left <= 500 - w and h > 0 and w > 0
    fractions = torch.tensor([h * w / (300 * 500) for _, _, h, w in boxes])
    ratios = torch.tensor([w / h for _, _, h, w in boxes])
    torch.manual_seed(0)
    reference = [T.RandomResizedCrop.get_params(torch.zeros(3, 300, 500), [0.08, 1.0], [3 / 4, 4 / 3])
                 for _ in range(2000)]
    ref_fractions = torch.tensor([h * w / (300 * 500) for _, _, h, w in reference])
    assert abs(float(fractions.mean()) - float(ref_fractions.mean())) < 0.03  # torchvision's distribution
    assert abs(float(fractions.std()) - float(ref_fractions.std())) < 0.03
    assert float(fractions.min()) < 0.1 and float(ratios.min()) > 0.7 and float(ratios.max()) < 1.4
    assert crop_box(32, 40, (1.0, 1.0), g) == (0, 0, 32, 40)  # the whole image (fallback: ratio 1.25 allowed)

    # A whole-image crop at the output size, no flip: exactly ToTensor + Normalize of the PIL image.
    cfg = setup_cfg(config_file=TINY_CFG, opts=["INPUT.RRCROP_SCALE", "(1.0, 1.0)",
                                                "INPUT.TRANSFORMS", "('random_resized_crop', 'normalize')"])
    size = tuple(cfg.INPUT.SIZE)
    img = Image.fromarray(np.random.RandomState(0).randint(0, 256, (size[0], size[1], 3), dtype=np.uint8))
    aug = BatchAugmenter(cfg, [img], torch.device("cpu"))
    expected = T.Normalize(cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD)(T.ToTensor()(img))
    torch.testing.assert_close(aug([0], g)[0], expected, rtol=0, atol=1e-6)


def test_gpu_augment_runs_are_reproducible_and_bad_settings_are_refused(run_train, data_root, tmp_path):
    opts = ["DATASET.NUM_SHOTS", "8", "OPTIM.MAX_EPOCH", "2", "INPUT.GPU_AUGMENT", "True"]
    logs = [run_train(coop_args(data_root, tmp_path / name), opts) for name in ("a", "b")]
    assert "INPUT.GPU_AUGMENT: training crops" in logs[0]
    assert re.findall(r"loss ([\d.]+) \(", logs[0]) == re.findall(r"loss ([\d.]+) \(", logs[1])
    assert final_accuracy(logs[0]) == final_accuracy(logs[1]) is not None
    ctx = [torch.load(tmp_path / n / "prompt_learner/model.pth.tar-2", weights_only=True)["state_dict"]["ctx"]
           for n in ("a", "b")]
    assert torch.equal(*ctx)
    with pytest.raises(ValueError, match="DECODED_CACHE_MB 0; raise it"):
        run_train(coop_args(data_root, tmp_path / "c"), opts + ["DATALOADER.DECODED_CACHE_MB", "0"])
    with pytest.raises(ValueError, match="random_crop.*INPUT.GPU_AUGMENT False"):
        run_train(coop_args(data_root, tmp_path / "d"), opts + ["INPUT.TRANSFORMS", "('random_crop', 'normalize')"])
