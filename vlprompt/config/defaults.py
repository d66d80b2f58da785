"""Default config tree of the framework: the Dassl keys the CoOp family reads, plus vlprompt's own.

Only framework keys live here (input, dataset, loaders, backbone, optimiser, loop, evaluation). Each
method declares its own ``TRAINER.<NAME>`` sub-tree next to its code (``extend_cfg`` on the trainer
class, see :mod:`vlprompt.config.plugins`); :func:`vlprompt.config.get_cfg` attaches them all.
Unknown keys in a YAML file or on the command line are errors (yacs), and a value must have the
type of its default. Keys marked "vlprompt" are ours; everything else mirrors the reference. Dassl
keys that nothing here reads (domain adaptation, semi-supervised and head options, augmentations no
CoOp-family config uses) are left out, so setting one is an error rather than a silent no-op.
"""
from __future__ import annotations

from yacs.config import CfgNode as CN

CfgNode = CN


def _build_defaults() -> CN:
    _C = CN()
    _C.OUTPUT_DIR = "./output"
    _C.RESUME = ""
    _C.SEED = -1
    _C.USE_CUDA = True
    _C.VERBOSE = True

    # ----- input / transforms
    _C.INPUT = CN()
    _C.INPUT.SIZE = (224, 224)
    _C.INPUT.INTERPOLATION = "bilinear"
    _C.INPUT.RESIZE_MODE = "shortest"  # vlprompt: test resize. shortest: shorter side + center crop; squash
    _C.INPUT.TRANSFORMS = ()
    _C.INPUT.NO_TRANSFORM = False
    _C.INPUT.PIXEL_MEAN = [0.485, 0.456, 0.406]
    _C.INPUT.PIXEL_STD = [0.229, 0.224, 0.225]
    _C.INPUT.CROP_PADDING = 4
    _C.INPUT.RRCROP_SCALE = (0.08, 1.0)
    # Training crops/flips/normalisation on the run's device from decoded images (vlprompt/data/gpu_augment.py):
    # faster, NOT numerically the PIL pipeline, so off by default.
    _C.INPUT.GPU_AUGMENT = False

    # ----- dataset
    _C.DATASET = CN()
    _C.DATASET.ROOT = ""
    _C.DATASET.NAME = ""
    _C.DATASET.NUM_SHOTS = -1
    _C.DATASET.SUBSAMPLE_CLASSES = "all"  # all | base | new
    _C.DATASET.SKIP_BAD_IMAGES = False  # vlprompt: skip unreadable images with a warning
    # vlprompt data reliability (docs/data.md):
    # seed of a split file generated because it is absent (1 = what the original's first SEED-1 run writes);
    # the run's SEED no longer matters for it
    _C.DATASET.SPLIT_SEED = 1
    # with NUM_SHOTS >= 1: a class with fewer training images than this after sampling is an error
    # (fewer than NUM_SHOTS is a warning); 0 disables the check
    _C.DATASET.MIN_SHOTS = 1
    # checks of all images before training: "full" (exist and decode), "files" (exist, non-empty), "off"
    _C.DATASET.VALIDATE = "full"

    # ----- data loaders
    _C.DATALOADER = CN()
    _C.DATALOADER.NUM_WORKERS = 4
    _C.DATALOADER.K_TRANSFORMS = 1
    _C.DATALOADER.RETURN_IMG0 = False
    # vlprompt (docs: vlprompt/data/pipeline.py): keep workers alive for the whole run (re-seeded each
    # epoch exactly as the original's re-spawned ones: the same numbers); decode the training images once
    # (up to this many MB); keep the resized evaluation images (uint8, up to this many MB per process).
    # Each of these changes speed only.
    _C.DATALOADER.PERSISTENT_WORKERS = True
    _C.DATALOADER.DECODED_CACHE_MB = 2048
    _C.DATALOADER.EVAL_CACHE_MB = 2048
    _C.DATALOADER.TRAIN_X = CN()
    _C.DATALOADER.TRAIN_X.SAMPLER = "RandomSampler"
    _C.DATALOADER.TRAIN_X.BATCH_SIZE = 32
    _C.DATALOADER.TEST = CN()
    _C.DATALOADER.TEST.BATCH_SIZE = 32

    # ----- model
    _C.MODEL = CN()
    _C.MODEL.INIT_WEIGHTS = ""
    _C.MODEL.BACKBONE = CN()
    _C.MODEL.BACKBONE.NAME = ""
    # vlprompt: where CLIP weights come from (see vlprompt/clip/loader.py)
    _C.MODEL.BACKBONE.PATH = ""  # a local checkpoint file (OpenAI JIT archive or state dict)
    _C.MODEL.BACKBONE.CACHE_DIR = "~/.cache/clip"  # folder holding RN50.pt, ViT-B-16.pt, ...
    _C.MODEL.BACKBONE.PRETRAINED_TAG = ""  # open_clip pretrained tag for non-OpenAI models
    # vlprompt: a Hugging Face tokenizer.json (or its folder) for towers that need one (SigLIP, MetaCLIP 2)
    _C.MODEL.BACKBONE.TOKENIZER = ""
    # vlprompt: preprocessing of open_clip backbones. "auto": INPUT keys the YAML files / options set
    # stay, the others come from the tag's pretrained config; "pretrained": all from it; "config": none.
    _C.MODEL.BACKBONE.PREPROCESS = "auto"
    # vlprompt: how class prompts are encoded. "fast": the exact fast paths (prompts cut after their
    # end-of-text token, the class-independent prefix encoded once, class text features encoded once
    # per evaluation). "reference": the original computation (every prompt padded to the full context
    # length and encoded in full, at every step and every test batch), for checks and benchmarks.
    _C.MODEL.TEXT_ENCODING = "fast"

    # ----- optimisation
    _C.OPTIM = CN()
    _C.OPTIM.NAME = "adam"
    _C.OPTIM.LR = 0.0003
    _C.OPTIM.WEIGHT_DECAY = 5e-4
    _C.OPTIM.MOMENTUM = 0.9
    _C.OPTIM.SGD_DAMPNING = 0
    _C.OPTIM.SGD_NESTEROV = False
    _C.OPTIM.RMSPROP_ALPHA = 0.99
    _C.OPTIM.ADAM_BETA1 = 0.9
    _C.OPTIM.ADAM_BETA2 = 0.999
    _C.OPTIM.LR_SCHEDULER = "single_step"
    _C.OPTIM.STEPSIZE = (-1,)
    _C.OPTIM.GAMMA = 0.1
    _C.OPTIM.MAX_EPOCH = 10
    _C.OPTIM.WARMUP_EPOCH = -1
    _C.OPTIM.WARMUP_TYPE = "linear"
    _C.OPTIM.WARMUP_CONS_LR = 1e-5
    _C.OPTIM.WARMUP_MIN_LR = 1e-5
    _C.OPTIM.WARMUP_RECOUNT = True

    # ----- training loop
    _C.TRAIN = CN()
    _C.TRAIN.CHECKPOINT_FREQ = 0
    # vlprompt: every N epochs, a rolling resume checkpoint (model-last.pth.tar: the learnable weights,
    # optimiser, schedule and RNG state) so that an interrupted run always has something to resume
    # from; removed once the final checkpoint is written. 0 turns it off.
    _C.TRAIN.RESUME_CHECKPOINT_FREQ = 1
    _C.TRAIN.PRINT_FREQ = 10

    # ----- evaluation
    _C.TEST = CN()
    _C.TEST.EVALUATOR = "Classification"
    _C.TEST.PER_CLASS_RESULT = False
    _C.TEST.COMPUTE_CMAT = False
    _C.TEST.NO_TEST = False
    _C.TEST.SPLIT = "test"
    _C.TEST.FINAL_MODEL = "last_step"

    # ----- trainers: TRAINER.NAME here; each method's sub-tree is declared by its trainer (extend_cfg)
    _C.TRAINER = CN()
    _C.TRAINER.NAME = ""
    return _C


def get_cfg_default() -> CN:
    """A fresh, mutable copy of the framework's default tree, without the methods' ``TRAINER.<NAME>``
    sub-trees (enough to build a dataset; use :func:`vlprompt.config.get_cfg` to build a trainer)."""
    return _build_defaults()
