"""Tip-Adapter and Tip-Adapter-F (Zhang et al., ECCV 2022): a cache model over few-shot image features.

For a normalised image feature f, with W the normalised text classifier of the class prompts (D, C),
the cache keys F (N, D) and values L (N, C) (one-hot labels) of the N few-shot training images:

    logits = 100 f W + alpha * exp(-beta (1 - f F^T)) L

- **Keys**: each training image is encoded TRAINER.TIP_ADAPTER.AUGMENT_EPOCH (10) times under the
  training augmentation (RandomResizedCrop scale (0.5, 1), flip); the raw features are averaged, then
  L2-normalised (official ``build_cache_model``). They come from :mod:`vlprompt.engine.feature_cache`, so
  a second run with the same seed and shots reuses them.
- **Tip-Adapter** (training-free): alpha and beta are searched on the validation features over the
  official grid (beta outer, alpha inner, the first strictly best accuracy wins), then the test split
  is evaluated.
- **Tip-Adapter-F**: the keys are a learned Linear(D -> N) initialised with F (``cache_keys`` here),
  trained with cross-entropy on the logits above at the initial alpha / beta, AdamW (eps 1e-4),
  cosine annealing stepped every iteration, one freshly augmented view of every image per epoch (here
  view e of MAX_EPOCH cached views in epoch e); then the search, then the test.

Our choices (README, "Deliberate differences"):
- The epoch of Tip-Adapter-F is selected on the **validation** split (TEST.FINAL_MODEL best_val), not on
  the test set as the official code does (a mistake its maintainers acknowledged, gaopengcuhk/Tip-Adapter
  #11); the official also reports max(best test accuracy during training, test accuracy after the search).
  Neither is offered. ``TEST.FINAL_MODEL last_step`` keeps the last epoch.
- The validation split is the few-shot one every method gets (min(K, 4) images per class), not the full
  val split of the official code: TRAINER.TIP_ADAPTER.SEARCH_SPLIT "full_val" uses the full split.
- The cache model computes in float32 (the official in fp16 on a GPU); PREC sets the image encoder's.
- Base-to-novel is undefined (the values are one-hot labels of the training classes): the launcher
  refuses it. Evaluating on other classes works only for classes in the cache, matched by name
  (ImageNet -> ImageNet-V2 / -Sketch / -A / -R); anything else is an error naming the missing classes.

Checkpoint (``tip_adapter/model.pth.tar-N``): ``cache_keys`` (N, D; the official adapter weight),
``cache_values`` (N, C), ``alpha``, ``beta`` (the chosen ones), ``class_ids`` (a hash of each class name).
``--eval-only --model-dir`` also takes the official cache folder (``caches/<dataset>`` with
``keys_<K>shots.pt``, ``values_<K>shots.pt`` and, for Tip-Adapter-F, ``best_F_<K>shots.pt``); alpha and
beta are then searched on the validation split, as the official code does on every run.
"""
from __future__ import annotations

import datetime
import hashlib
import math
import os
import time
import warnings
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlprompt.clip import IMAGENET_TEMPLATES_SELECT, FixedTextCLIP, class_prompts, clip_embed_dim, encode_class_prompts
from vlprompt.config import declare
from vlprompt.engine import TRAINER_REGISTRY, CLIPTrainer, feature_cache
from vlprompt.engine.checkpoint import load_checkpoint, load_state_dict_checked
from vlprompt.engine.feature_cache import CachedFeatures, FeatureCache, FeatureLoader
from vlprompt.optim import IterationCosineLR
from vlprompt.utils.safe_load import safe_load

# Official per-dataset settings (configs/<dataset>.yaml): (search_scale [beta, alpha], init_alpha).
OFFICIAL_SETTINGS = {
    "Caltech101": ((12.0, 5.0), 3.0), "DescribableTextures": ((13.0, 13.0), 2.0), "EuroSAT": ((12.0, 10.0), 2.0),
    "FGVCAircraft": ((30.0, 30.0), 5.0), "Food101": ((10.0, 10.0), 1.17), "ImageNet": ((7.0, 3.0), 1.17),
    "OxfordFlowers": ((50.0, 50.0), 10.0), "OxfordPets": ((7.0, 3.0), 1.17), "StanfordCars": ((20.0, 10.0), 3.0),
    "SUN397": ((12.0, 10.0), 1.17), "UCF101": ((7.0, 3.0), 3.0),
}
FALLBACK_SETTINGS = ((12.0, 10.0), 2.0)  # other datasets: the medians of the official settings
# The official ImageNet script ensembles CLIP's 7 selected templates; every other dataset uses its
# reader's template (the official per-dataset templates are CoOp's, which the readers hold).
TEMPLATES = {name: IMAGENET_TEMPLATES_SELECT for name in ("ImageNet", "ImageNetV2", "ImageNetSketch", "ImageNetA",
                                                         "ImageNetR")}
CLIP_LOGIT_SCALE = 100.0  # the official code's fixed scale of the zero-shot logits
NO_BASE2NEW = (
    "its cache holds the features of the few-shot training images as keys and their one-hot labels over the "
    "training classes as values, so it can only classify classes it has images of: on novel classes the cache "
    "adds nothing and the model is zero-shot CLIP. Evaluate it with the few-shot protocol "
    "(scripts/tip_adapter/main.sh, scripts/tip_adapter_f/main.sh), or on data with the training classes "
    "(ImageNet -> ImageNet-V2/-Sketch/-A/-R: the xd_train.sh / xd_test.sh scripts)."
)
SEARCH_SPLITS = ("val", "full_val")


def class_id(name: str) -> int:
    """A stable 63-bit id of a class name ("_" and case ignored), to match classes across datasets."""
    digest = hashlib.sha256(name.replace("_", " ").strip().lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def search_grid(scale: Sequence[float], steps: Sequence[int]) -> Tuple[List[float], List[float]]:
    """The official grids: beta_i = 0.1 + i (S_beta - 0.1) / n_beta, alpha_j likewise (i < n_beta, j < n_alpha)."""
    betas = [i * (scale[0] - 0.1) / steps[0] + 0.1 for i in range(steps[0])]
    alphas = [i * (scale[1] - 0.1) / steps[1] + 0.1 for i in range(steps[1])]
    return betas, alphas


def tip_logits(clip_logits: torch.Tensor, affinity: torch.Tensor, values: torch.Tensor, alpha: float,
               beta: float) -> torch.Tensor:
    """clip_logits + alpha * exp(-beta (1 - affinity)) @ values, written as the official code does."""
    cache_logits = ((-1) * (beta - beta * affinity)).exp() @ values
    return clip_logits + cache_logits * alpha


def search_alpha_beta(clip_logits: torch.Tensor, affinity: torch.Tensor, values: torch.Tensor, labels: torch.Tensor,
                      betas: Sequence[float], alphas: Sequence[float], log=print) -> Tuple[float, float, float]:
    """The official search (``search_hp``): beta outer, alpha inner, the first strictly best accuracy wins
    (starting from 0: with no correct prediction at all the result is beta = alpha = 0). The cache term
    is computed once per beta (it does not depend on alpha). Returns (beta, alpha, accuracy %)."""
    best, best_beta, best_alpha = 0, 0.0, 0.0
    n = labels.shape[0]
    for beta in betas:
        cache_logits = ((-1) * (beta - beta * affinity)).exp() @ values
        for alpha in alphas:
            correct = int(((clip_logits + cache_logits * alpha).argmax(dim=1) == labels).sum())
            if correct > best:
                best, best_beta, best_alpha = correct, beta, alpha
                log(f"New best setting, beta: {beta:.2f}, alpha: {alpha:.2f}; accuracy: {100 * correct / n:.2f}")
    log(f"After searching, the best accuracy: {100 * best / n:.2f}")
    return best_beta, best_alpha, 100 * best / n


class TipCache(nn.Module):
    """The cache model: keys (N, D) (learned by Tip-Adapter-F), one-hot values (N, C), alpha, beta."""

    def __init__(self, num_entries: int, dim: int, classnames: Sequence[str]):
        super().__init__()
        self.cache_keys = nn.Parameter(torch.zeros(num_entries, dim))
        self.register_buffer("cache_values", torch.zeros(num_entries, len(classnames)))
        self.register_buffer("alpha", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("beta", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("class_ids", torch.tensor([class_id(c) for c in classnames], dtype=torch.long))

    def fill(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        """Keys (N, D) (normalised features) and the labels of the cached images."""
        with torch.no_grad():
            self.cache_keys.copy_(keys)
            self.cache_values.copy_(F.one_hot(labels.long(), self.cache_values.shape[1]).to(self.cache_values.dtype))

    def set_hyperparameters(self, alpha: float, beta: float) -> None:
        self.alpha.fill_(alpha)
        self.beta.fill_(beta)

    def reshape_like(self, state_dict: dict) -> None:
        """Give every tensor the shape it has in ``state_dict`` (a cache of another size: other shots,
        other classes), so the strict load applies."""
        keys = state_dict.get("cache_keys")
        if keys is not None and keys.shape != self.cache_keys.shape:
            self.cache_keys = nn.Parameter(torch.zeros_like(keys, device=self.cache_keys.device,
                                                            dtype=self.cache_keys.dtype))
        for name in ("cache_values", "class_ids"):
            t = state_dict.get(name)
            if t is not None and t.shape != getattr(self, name).shape:
                setattr(self, name, torch.zeros(t.shape, dtype=getattr(self, name).dtype, device=t.device))

    def restrict_to(self, classnames: Sequence[str], source: str) -> None:
        """Keep the value columns of ``classnames`` (in that order): the cache of one class set used on
        another. Every class must be in the cache (matched by name)."""
        wanted = [class_id(c) for c in classnames]
        have = {int(c): i for i, c in enumerate(self.class_ids.tolist())}
        if wanted == list(have):
            return
        missing = [c for c, i in zip(classnames, wanted) if i not in have]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10]) + (", ..." if len(missing) > 10 else "")
            raise ValueError(
                f'The Tip-Adapter cache of "{source}" cannot classify {len(missing)} of the {len(classnames)} classes of '
                f"this dataset ({shown}): {NO_BASE2NEW}"
            )
        index = torch.tensor([have[i] for i in wanted], device=self.cache_values.device)
        self.cache_values = self.cache_values[:, index]
        self.class_ids = self.class_ids[index]
        print(f"Tip-Adapter: the cache's {len(have)} classes restricted to the {len(wanted)} of this dataset")

    def forward(self, features: torch.Tensor, clip_logits: torch.Tensor, alpha: Optional[float] = None,
                beta: Optional[float] = None) -> torch.Tensor:
        alpha = float(self.alpha) if alpha is None else alpha
        beta = float(self.beta) if beta is None else beta
        affinity = features @ self.cache_keys.t()  # the official adapter: Linear(D -> N) with the keys as weight
        return tip_logits(clip_logits, affinity, self.cache_values, alpha, beta)


class TipAdapterCLIP(FixedTextCLIP):
    """Frozen image encoder + the fixed text classifier + the cache model (``tip_adapter``)."""

    def __init__(self, clip_model: nn.Module, text_features: torch.Tensor, cache: TipCache):
        super().__init__(clip_model, text_features)
        self.tip_adapter = cache

    def clip_logits(self, features: torch.Tensor) -> torch.Tensor:
        """100 * f W for normalised features f (float32)."""
        return CLIP_LOGIT_SCALE * features @ self.fixed_text_features.float().t()

    def forward_features(self, features: torch.Tensor, alpha: Optional[float] = None,
                         beta: Optional[float] = None) -> torch.Tensor:
        """Logits from raw (cached) image features."""
        f = F.normalize(features.float(), dim=-1)
        with torch.autocast(f.device.type, enabled=False):  # the cache model computes in float32
            return self.tip_adapter(f, self.clip_logits(f), alpha, beta)

    def forward(self, image: torch.Tensor, text_features: torch.Tensor = None) -> torch.Tensor:
        return self.forward_features(self.image_encoder(image.type(self.dtype)))


class _TipAdapterBase(CLIPTrainer):
    """What Tip-Adapter and Tip-Adapter-F share: the classifier, the cache, the search, the evaluation."""

    prec_key = "TIP_ADAPTER"
    learnable = "tip_adapter"
    class_dependent_keys = ()
    unsupported_protocols = {"base2new_train": NO_BASE2NEW, "base2new_test": NO_BASE2NEW}
    fine_tuned = False  # Tip-Adapter-F: the keys are trained

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        super().extend_cfg(cfg)
        feature_cache.extend_cfg(cfg)
        declare(cfg, "TRAINER.TIP_ADAPTER",
                PREC="fp16",  # precision of the frozen image encoder (the cache model computes in float32)
                AUGMENT_EPOCH=10,  # augmented views averaged per cache key (official augment_epoch)
                INIT_ALPHA=-1.0,  # < 0: the official value of the dataset (OFFICIAL_SETTINGS), else this
                INIT_BETA=1.0,
                SEARCH_HP=True,  # search alpha, beta on the validation split (False: keep INIT_ALPHA/BETA)
                SEARCH_SCALE=[],  # [S_beta, S_alpha]; empty: the official values of the dataset
                SEARCH_STEP=[200, 20],  # grid sizes [beta, alpha]
                SEARCH_SPLIT="val",  # "val": the few-shot val split (min(K, 4) per class); "full_val": all of it
                EPS=1e-4)  # AdamW eps of Tip-Adapter-F (official)

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        feature_cache.check_cfg(cfg)
        t = cfg.TRAINER.TIP_ADAPTER
        if t.AUGMENT_EPOCH < 1:
            raise ValueError(f"TRAINER.TIP_ADAPTER.AUGMENT_EPOCH must be >= 1, got {t.AUGMENT_EPOCH}")
        if t.SEARCH_SPLIT not in SEARCH_SPLITS:
            raise ValueError(f'TRAINER.TIP_ADAPTER.SEARCH_SPLIT must be one of {list(SEARCH_SPLITS)}, got "{t.SEARCH_SPLIT}"')
        if t.SEARCH_SCALE and (len(t.SEARCH_SCALE) != 2 or min(t.SEARCH_SCALE) <= 0.1):
            raise ValueError(f"TRAINER.TIP_ADAPTER.SEARCH_SCALE must be [S_beta, S_alpha], both > 0.1 (or [] for the "
                             f"official values of the dataset), got {list(t.SEARCH_SCALE)}")
        if len(t.SEARCH_STEP) != 2 or min(t.SEARCH_STEP) < 1:
            raise ValueError(f"TRAINER.TIP_ADAPTER.SEARCH_STEP must be two grid sizes >= 1, got {list(t.SEARCH_STEP)}")

    @classmethod
    def settings(cls, cfg) -> Tuple[Tuple[float, float], float]:
        """(search scale [beta, alpha], initial alpha): the config's, else the official ones of the dataset."""
        scale, init_alpha = OFFICIAL_SETTINGS.get(cfg.DATASET.NAME, FALLBACK_SETTINGS)
        t = cfg.TRAINER.TIP_ADAPTER
        if t.SEARCH_SCALE:
            scale = tuple(float(s) for s in t.SEARCH_SCALE)
        if t.INIT_ALPHA >= 0:
            init_alpha = float(t.INIT_ALPHA)
        return scale, init_alpha

    # ------------------------------------------------------------------ model
    def build_custom_clip(self, classnames, clip_model) -> nn.Module:
        name = self.cfg.DATASET.NAME
        templates = list(TEMPLATES.get(name, [self.dm.dataset.template]))
        if len(templates) > 1:
            print(f"Prompt ensembling (n={len(templates)}): {templates}")
        else:
            print(f"Prompts: {class_prompts(templates[0], classnames)}")
        with self.autocast():
            text_features = encode_class_prompts(clip_model, classnames, templates)
        (scale, init_alpha), t = self.settings(self.cfg), self.cfg.TRAINER.TIP_ADAPTER
        source = "config" if t.SEARCH_SCALE and t.INIT_ALPHA >= 0 else (
            "official, " + name if name in OFFICIAL_SETTINGS else "no official setting for this dataset: the medians")
        print(f"Tip-Adapter: init alpha {init_alpha:g}, init beta {t.INIT_BETA:g}, search scale [beta, alpha] "
              f"{list(scale)}, steps {list(t.SEARCH_STEP)} ({source})")
        cache = TipCache(len(self.dm.dataset.train_x), clip_embed_dim(clip_model), classnames)
        cache.set_hyperparameters(init_alpha, t.INIT_BETA)
        return TipAdapterCLIP(clip_model, text_features, cache)

    def build_model(self) -> None:
        super().build_model()
        if not self.fine_tuned:
            print("Training-free: the cache keys stay fixed (nothing is updated)")
        self._loaded = {}
        self.features = FeatureCache(self.cfg, self.model.image_encoder, self.model.dtype, self.device, self.precision,
                                     autocast=self.autocast)

    def build_optimization(self, learnable: nn.Module):
        learnable.cache_keys.requires_grad_(False)  # training-free
        return None, None

    def wrap_distributed(self, learnable: nn.Module) -> None:
        """Nothing to synchronise: every process computes the same cache and search."""

    @property
    def cache(self) -> TipCache:
        return self._models[self.learnable]

    # ------------------------------------------------------------------ features
    def build_cache(self) -> None:
        """Keys: the average of AUGMENT_EPOCH augmented views of each training image, normalised."""
        views = self.cfg.TRAINER.TIP_ADAPTER.AUGMENT_EPOCH
        cached = self.features.get("train", self.dm.dataset.train_x, self.dm.tfm_train, views)
        keys = F.normalize(cached.features.mean(dim=0), dim=-1)
        self.cache.fill(keys.to(self.device), cached.labels.to(self.device))
        print(f"Cache model: {keys.shape[0]:,} keys ({views} augmented views averaged per image)")

    def _search_data(self) -> Tuple[str, list]:
        ds = self.dm.dataset
        if self.cfg.TRAINER.TIP_ADAPTER.SEARCH_SPLIT == "full_val":
            from vlprompt.data import build_dataset

            cfg = self.cfg.clone()
            cfg.defrost()
            cfg.DATASET.NUM_SHOTS = -1
            full = build_dataset(cfg)
            data, name = full.val, "val_full"
            same_as_test = full.val is full.test
        else:
            data, name, same_as_test = ds.val, "val", ds.val is ds.test
        if not data:
            raise ValueError(f"{type(self).__name__} searches alpha/beta (and selects Tip-Adapter-F's epoch) on the "
                             "validation split, but this dataset has none: set TRAINER.TIP_ADAPTER.SEARCH_HP False "
                             "and TEST.FINAL_MODEL last_step")
        if same_as_test:
            warnings.warn(f"{self.cfg.DATASET.NAME} has no validation split (its reader uses the test split as val): "
                          "alpha/beta (and Tip-Adapter-F's epoch) are chosen on the test set, as the official "
                          "ImageNet script does")
        return name, data

    def _split_features(self, split: str) -> CachedFeatures:
        """Features of the val (search) or test split, read once per run."""
        if split not in self._loaded:
            if split == "val":
                name, data = self._search_data()
                self._loaded[split] = self.features.get(name, data, self.dm.tfm_test, 1)
            else:
                self._loaded[split] = self.features.get(split, getattr(self.dm.dataset, split), self.dm.tfm_test, 1)
        return self._loaded[split]

    def eval_loader(self, split: str):
        split, _ = super().eval_loader(split)
        return split, FeatureLoader(self._split_features(split), self.cfg.DATALOADER.TEST.BATCH_SIZE, False)

    def model_inference(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(inputs).float()

    # ------------------------------------------------------------------ search
    @torch.no_grad()
    def search(self) -> None:
        """The official search on the validation features (sets the cache's alpha, beta)."""
        t = self.cfg.TRAINER.TIP_ADAPTER
        cache = self.cache
        if not t.SEARCH_HP:
            print(f"No search (TRAINER.TIP_ADAPTER.SEARCH_HP False): alpha {float(cache.alpha):g}, "
                  f"beta {float(cache.beta):g}")
            return
        cached = self._split_features("val")
        f = F.normalize(cached.features[0].to(self.device, torch.float32), dim=-1)
        labels = cached.labels.to(self.device)
        model = self.model
        clip_logits = model.clip_logits(f)
        n = labels.shape[0]
        print("-------- Searching hyperparameters on the val set. --------")
        print(f"**** Zero-shot CLIP's val accuracy: {100 * int((clip_logits.argmax(1) == labels).sum()) / n:.2f}. ****")
        init = model.forward_features(cached.features[0].to(self.device))
        print(f"**** {type(self).__name__}'s val accuracy: {100 * int((init.argmax(1) == labels).sum()) / n:.2f} "
              f"(alpha {float(cache.alpha):g}, beta {float(cache.beta):g}). ****")
        scale, _ = self.settings(self.cfg)
        betas, alphas = search_grid(scale, t.SEARCH_STEP)
        affinity = f @ cache.cache_keys.t()
        beta, alpha, _ = search_alpha_beta(clip_logits, affinity, cache.cache_values, labels, betas, alphas)
        cache.set_hyperparameters(alpha, beta)
        print(f"Chosen: alpha {alpha:g}, beta {beta:g}")

    # ------------------------------------------------------------------ checkpoints
    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Our checkpoint (``<dir>/tip_adapter/``), or the official cache folder (then alpha/beta are searched).
        The cache may come from another class set: only the classes of this run are kept (all must be in it)."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        if not os.path.isdir(os.path.join(directory, self.learnable)) and self._official_files(directory):
            self._load_official(directory)
            return
        model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
        path = os.path.join(directory, self.learnable, model_file)
        if not os.path.exists(path):
            raise FileNotFoundError(f'Model not found at "{path}"')
        checkpoint = load_checkpoint(path)
        print(f'Loading weights to {self.learnable} from "{path}" (epoch = {checkpoint["epoch"]})')
        state = {k[7:] if k.startswith("module.") else k: v for k, v in checkpoint["state_dict"].items()}
        cache = self.cache
        cache.reshape_like(state)
        load_state_dict_checked(cache, state, path)
        cache.to(self.device)
        cache.restrict_to(self.dm.dataset.classnames, path)
        print(f"alpha {float(cache.alpha):g}, beta {float(cache.beta):g}")

    def _official_files(self, directory: str) -> List[str]:
        k = self.cfg.DATASET.NUM_SHOTS
        names = [f"keys_{k}shots.pt", f"values_{k}shots.pt"] + ([f"best_F_{k}shots.pt"] if self.fine_tuned else [])
        paths = [os.path.join(directory, n) for n in names]
        return paths if all(os.path.isfile(p) for p in paths) else []

    def _load_official(self, directory: str) -> None:
        paths = self._official_files(directory)
        print(f"Loading the official Tip-Adapter cache: {paths}")
        keys = safe_load(paths[0], what="Tip-Adapter cache keys").float().t()  # stored (D, N)
        values = safe_load(paths[1], what="Tip-Adapter cache values").float()  # (N, C) one-hot
        if self.fine_tuned:
            keys = safe_load(paths[2], what="Tip-Adapter-F adapter").detach().float()  # the adapter weight (N, D)
        n_cls = self.dm.num_classes
        if values.dim() != 2 or values.shape[1] != n_cls or keys.shape[0] != values.shape[0]:
            raise ValueError(f'The official cache in "{directory}" has values {tuple(values.shape)} and keys '
                             f"{tuple(keys.shape)}; this run has {n_cls} classes: it must come from the same dataset")
        cache = self.cache
        cache.reshape_like({"cache_keys": keys, "cache_values": values})
        cache.to(self.device)
        with torch.no_grad():
            cache.cache_keys.copy_(keys)
            cache.cache_values.copy_(values)
        self.search()

    # ------------------------------------------------------------------ run
    def method_details(self) -> str:
        return f"{self.cfg.TRAINER.TIP_ADAPTER.AUGMENT_EPOCH} views, search on {self.cfg.TRAINER.TIP_ADAPTER.SEARCH_SPLIT}"


@TRAINER_REGISTRY.register()
class TipAdapter(_TipAdapterBase):
    """Training-free: cache, search, test. ``train.py`` without --eval-only runs all three."""

    @classmethod
    def final_epoch(cls, cfg) -> int:
        return 1  # one checkpoint, model.pth.tar-1 (nothing is trained)

    def train(self) -> None:
        self.time_start = time.time()
        self.build_cache()
        self.search()
        self.save_model(0, self.output_dir, is_best=self.cfg.TEST.FINAL_MODEL == "best_val")
        self.after_train()  # "Finish training", test on TEST.SPLIT, elapsed time


@TRAINER_REGISTRY.register()
class TipAdapterF(_TipAdapterBase):
    """Fine-tuned keys: the framework's epoch loop over cached augmented views, cosine per iteration."""

    fine_tuned = True
    lr_step_per_iteration = True

    def build_optimization(self, learnable: nn.Module):
        o = self.cfg.OPTIM
        if o.NAME != "adamw":
            raise ValueError(f'Tip-Adapter-F trains with AdamW (official): set OPTIM.NAME "adamw", got "{o.NAME}"')
        optim = torch.optim.AdamW(learnable.parameters(), lr=o.LR, eps=self.cfg.TRAINER.TIP_ADAPTER.EPS,
                                  weight_decay=o.WEIGHT_DECAY, betas=(o.ADAM_BETA1, o.ADAM_BETA2))
        per_epoch = math.ceil(len(self.dm.dataset.train_x) / self.cfg.DATALOADER.TRAIN_X.BATCH_SIZE)
        print(f"Tip-Adapter-F: {self.max_epoch} epochs x {per_epoch} iterations, cosine annealing per iteration")
        return optim, IterationCosineLR(optim, self.max_epoch * per_epoch)

    def wrap_distributed(self, learnable: nn.Module) -> None:
        CLIPTrainer.wrap_distributed(self, learnable)

    def before_train(self) -> None:
        self.build_cache()  # before a resume, which then loads the trained keys over it
        views = self.features.get("train", self.dm.dataset.train_x, self.dm.tfm_train, self.max_epoch,
                                  purpose="tip_adapter_f")
        # One view per image per epoch (view e in epoch e), every image in every epoch (no drop_last).
        self.train_loader_x = FeatureLoader(views, self.cfg.DATALOADER.TRAIN_X.BATCH_SIZE, shuffle=True,
                                            view_per_epoch=True, drop_last=False)
        super().before_train()

    def before_epoch(self) -> None:
        self.train_loader_x.set_epoch(self.epoch)

    def compute_loss(self, features: torch.Tensor, label: torch.Tensor):
        output = self.model.forward_features(features)  # at the initial alpha / beta (fixed in training)
        return F.cross_entropy(output, label), output

    def after_train(self) -> None:
        print("Finish training")
        if self.cfg.TEST.FINAL_MODEL == "best_val" and not self.cfg.TEST.NO_TEST:
            print("Deploy the model with the best val performance (epoch chosen on the validation split)")
            self.load_model(self.output_dir)
        else:
            print("Deploy the last-epoch model")
        self.search()
        # The deployed model (chosen epoch, searched alpha/beta) is the final checkpoint the evaluations load.
        self.save_model(self.max_epoch - 1, self.output_dir)
        if not self.cfg.TEST.NO_TEST:
            self.test()
        print(f"Elapsed: {datetime.timedelta(seconds=round(time.time() - self.time_start))}")
        self.close_writer()
