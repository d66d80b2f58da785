"""Default config tree: Dassl's keys used by the CoOp family, CoOp/CoCoOp additions, vlprompt extras.

Unknown keys in a YAML file or on the command line are errors (yacs), and a value must have the
type of its default. Keys marked "vlprompt" are ours; everything else mirrors the reference.
"""
from __future__ import annotations

from yacs.config import CfgNode as CN

CfgNode = CN


def _build_defaults() -> CN:
    _C = CN()
    _C.VERSION = 1
    _C.OUTPUT_DIR = "./output"
    _C.RESUME = ""
    _C.SEED = -1
    _C.USE_CUDA = True
    _C.VERBOSE = True

    # ----- input / transforms
    _C.INPUT = CN()
    _C.INPUT.SIZE = (224, 224)
    _C.INPUT.INTERPOLATION = "bilinear"
    _C.INPUT.TRANSFORMS = ()
    _C.INPUT.NO_TRANSFORM = False
    _C.INPUT.PIXEL_MEAN = [0.485, 0.456, 0.406]
    _C.INPUT.PIXEL_STD = [0.229, 0.224, 0.225]
    _C.INPUT.CROP_PADDING = 4
    _C.INPUT.RRCROP_SCALE = (0.08, 1.0)
    _C.INPUT.CUTOUT_N = 1
    _C.INPUT.CUTOUT_LEN = 16
    _C.INPUT.GN_MEAN = 0.0
    _C.INPUT.GN_STD = 0.15
    _C.INPUT.RANDAUGMENT_N = 2
    _C.INPUT.RANDAUGMENT_M = 10
    _C.INPUT.COLORJITTER_B = 0.4
    _C.INPUT.COLORJITTER_C = 0.4
    _C.INPUT.COLORJITTER_S = 0.4
    _C.INPUT.COLORJITTER_H = 0.1
    _C.INPUT.RGS_P = 0.2
    _C.INPUT.GB_P = 0.5
    _C.INPUT.GB_K = 21

    # ----- dataset
    _C.DATASET = CN()
    _C.DATASET.ROOT = ""
    _C.DATASET.NAME = ""
    _C.DATASET.SOURCE_DOMAINS = ()
    _C.DATASET.TARGET_DOMAINS = ()
    _C.DATASET.NUM_LABELED = -1
    _C.DATASET.NUM_SHOTS = -1
    _C.DATASET.VAL_PERCENT = 0.1
    _C.DATASET.STL10_FOLD = -1
    _C.DATASET.CIFAR_C_TYPE = ""
    _C.DATASET.CIFAR_C_LEVEL = 1
    _C.DATASET.ALL_AS_UNLABELED = False
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
    _C.DATALOADER.TRAIN_X = CN()
    _C.DATALOADER.TRAIN_X.SAMPLER = "RandomSampler"
    _C.DATALOADER.TRAIN_X.BATCH_SIZE = 32
    _C.DATALOADER.TRAIN_X.N_DOMAIN = 0
    _C.DATALOADER.TRAIN_X.N_INS = 16
    _C.DATALOADER.TRAIN_U = CN()
    _C.DATALOADER.TRAIN_U.SAME_AS_X = True
    _C.DATALOADER.TRAIN_U.SAMPLER = "RandomSampler"
    _C.DATALOADER.TRAIN_U.BATCH_SIZE = 32
    _C.DATALOADER.TRAIN_U.N_DOMAIN = 0
    _C.DATALOADER.TRAIN_U.N_INS = 16
    _C.DATALOADER.TEST = CN()
    _C.DATALOADER.TEST.SAMPLER = "SequentialSampler"
    _C.DATALOADER.TEST.BATCH_SIZE = 32

    # ----- model
    _C.MODEL = CN()
    _C.MODEL.INIT_WEIGHTS = ""
    _C.MODEL.BACKBONE = CN()
    _C.MODEL.BACKBONE.NAME = ""
    _C.MODEL.BACKBONE.PRETRAINED = True
    # vlprompt: where CLIP weights come from (see vlprompt/clip/loader.py)
    _C.MODEL.BACKBONE.PATH = ""  # a local checkpoint file (OpenAI JIT archive or state dict)
    _C.MODEL.BACKBONE.CACHE_DIR = "~/.cache/clip"  # folder holding RN50.pt, ViT-B-16.pt, ...
    _C.MODEL.BACKBONE.PRETRAINED_TAG = ""  # open_clip pretrained tag for non-OpenAI models
    _C.MODEL.HEAD = CN()
    _C.MODEL.HEAD.NAME = ""
    _C.MODEL.HEAD.HIDDEN_LAYERS = ()
    _C.MODEL.HEAD.ACTIVATION = "relu"
    _C.MODEL.HEAD.BN = True
    _C.MODEL.HEAD.DROPOUT = 0.0

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
    _C.OPTIM.STAGED_LR = False
    _C.OPTIM.NEW_LAYERS = ()
    _C.OPTIM.BASE_LR_MULT = 0.1
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
    _C.TRAIN.PRINT_FREQ = 10
    _C.TRAIN.COUNT_ITER = "train_x"

    # ----- evaluation
    _C.TEST = CN()
    _C.TEST.EVALUATOR = "Classification"
    _C.TEST.PER_CLASS_RESULT = False
    _C.TEST.COMPUTE_CMAT = False
    _C.TEST.NO_TEST = False
    _C.TEST.SPLIT = "test"
    _C.TEST.FINAL_MODEL = "last_step"

    # ----- trainers
    _C.TRAINER = CN()
    _C.TRAINER.NAME = ""
    # vlprompt: autocast dtype of PREC "amp" on CUDA: "fp16" (the reference: fp16 with a grad scaler)
    # or "bf16" (no scaler; GPUs with bf16 support). On the CPU amp always uses bf16.
    _C.TRAINER.AMP_DTYPE = "fp16"
    _C.TRAINER.COOP = CN()
    _C.TRAINER.COOP.N_CTX = 16
    _C.TRAINER.COOP.CSC = False
    _C.TRAINER.COOP.CTX_INIT = ""
    _C.TRAINER.COOP.PREC = "fp16"  # fp16 | fp32 | amp
    _C.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"  # end | middle | front
    _C.TRAINER.COCOOP = CN()
    _C.TRAINER.COCOOP.N_CTX = 16
    _C.TRAINER.COCOOP.CTX_INIT = ""
    _C.TRAINER.COCOOP.PREC = "fp16"
    # vlprompt: most prompt sequences per text-encoder call. All images of a batch are encoded
    # together (the reference loops over images); above this, the work is split into chunks whose
    # activations are recomputed in backward (checkpointing), so memory stays bounded.
    _C.TRAINER.COCOOP.TEXT_CHUNK = 4096
    # vlprompt: image features of the frozen CLIP image encoder, cached per (backbone weights,
    # precision, dataset split, shots, seed, views, transform) for the baselines (engine/feature_cache.py).
    _C.TRAINER.FEATURES = CN()
    _C.TRAINER.FEATURES.CACHE_DIR = "~/.cache/vlprompt/features"
    # Augmented views (train transform) cached per training image; 0 = none: LinearProbe uses one
    # test-transform view (the protocol), CLIP_Adapter encodes augmented images on the fly.
    _C.TRAINER.FEATURES.TRAIN_VIEWS = 0
    # vlprompt: linear probe (CoOp's lpclip protocol as a trainer; trainers/linear_probe.py)
    _C.TRAINER.LINEAR_PROBE = CN()
    _C.TRAINER.LINEAR_PROBE.PREC = "fp16"  # precision of feature extraction
    _C.TRAINER.LINEAR_PROBE.NUM_STEP = 8  # binary refinement steps of the C search
    _C.TRAINER.LINEAR_PROBE.MAX_ITER = 1000  # L-BFGS iterations per fit
    _C.TRAINER.LINEAR_PROBE.C = 0.0  # > 0: use this inverse regularisation strength, no search
    # vlprompt: CLIP-Adapter (trainers/clip_adapter.py)
    _C.TRAINER.CLIP_ADAPTER = CN()
    _C.TRAINER.CLIP_ADAPTER.PREC = "fp32"  # the official code runs the whole CLIP in fp32
    _C.TRAINER.CLIP_ADAPTER.ALPHA = 0.2  # residual ratio: f' = alpha * adapter(f) + (1 - alpha) * f
    _C.TRAINER.CLIP_ADAPTER.REDUCTION = 4  # bottleneck width = embedding dim / REDUCTION
    return _C


def get_cfg_default() -> CN:
    """A fresh, mutable copy of the default config tree."""
    return _build_defaults()
