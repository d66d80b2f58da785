"""Generic training loop (Dassl's TrainerBase / SimpleTrainer / TrainerX semantics).

Models are registered by name with their optimiser and scheduler; only registered modules change
train/eval mode, are stepped, saved (``<OUTPUT_DIR>/<name>/model.pth.tar-N``) and loaded. The LR
scheduler is stepped by the epoch loop once per epoch, after the last batch's optimiser step.
"""
from __future__ import annotations

import datetime
import os
import time
from collections import OrderedDict
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from vlprompt.data import DataManager
from vlprompt.evaluation import build_evaluator
from vlprompt.utils import AverageMeter, MetricMeter, mkdir_if_missing
from vlprompt.utils.dist import all_gather_objects, get_world_size, is_distributed, is_main_process, run_device
from vlprompt.utils.results import write_results

from .checkpoint import (
    LAST_CHECKPOINT,
    fingerprint_hash,
    get_rng_state,
    load_checkpoint,
    load_state_dict_checked,
    resume_from_checkpoint,
    run_fingerprint,
    save_checkpoint,
)


class RunDiverged(FloatingPointError):
    """The loss or a learnable parameter became infinite or NaN; the message says where and at what lr."""


class TrainerBase:
    """Model registry, checkpointing, the epoch loop and the backward/update helpers.

    What a method declares (class attributes and class methods, all optional):
    - :meth:`extend_cfg`: its ``TRAINER.<NAME>`` config sub-tree (see :mod:`vlprompt.config.plugins`);
    - :meth:`output_variant`: a sub-folder the run scripts add to the output folder (CoOp's
      ``nctx16_cscFalse_ctpend``); :meth:`base2new_shots_folder`: the base-to-novel ``shots_<K>`` folder
      name (KgCoOp's official ``shots_16_8.0``);
    - :meth:`finalize_cfg`: the method's last word on the merged config (e.g. a forced epoch count);
    - ``class_dependent_keys``: buffers rebuilt from the class names, dropped when a checkpoint is
      loaded (so a model trained on base classes loads for new ones); ``ignored_checkpoint_keys``:
      entries of official checkpoints the method does not use (a key ending in "." ignores every key
      under it). Every other key must fit exactly, except the :meth:`frozen_keys` of a registered model.
    - :meth:`checkpoint_extras` / :meth:`restore_checkpoint_extras`: a trainer's own state that must
      survive an interrupted run (written into every checkpoint, restored on resume).
    - ``lr_step_per_iteration``: step the LR scheduler after every batch (a schedule over iterations, e.g.
      CLIP-LoRA's cosine) instead of once per epoch after the last batch;
    - :meth:`final_epoch`: the epoch of the checkpoint the evaluation protocols load;
      ``unsupported_protocols``: launcher protocols the method cannot run, with the reason.
    """

    class_dependent_keys: tuple = ()
    ignored_checkpoint_keys: tuple = ()
    lr_step_per_iteration: bool = False
    unsupported_protocols: dict = {}  # protocol name (vlprompt.launch) -> why the method cannot run it

    @classmethod
    def extend_cfg(cls, cfg) -> None:
        """Declare this method's config keys (``vlprompt.config.declare``); called for every discovered
        trainer before any YAML is merged."""

    @classmethod
    def final_epoch(cls, cfg) -> Optional[int]:
        """The epoch of the checkpoint a finished training run leaves, which the evaluation protocols load
        by default: OPTIM.MAX_EPOCH. None when it depends on the data (e.g. a budget of iterations): the
        evaluation then loads the training run's final checkpoint, whatever its epoch (:meth:`load_model`
        with ``epoch=None`` must do so for such a method)."""
        return int(cfg.OPTIM.MAX_EPOCH)

    @classmethod
    def output_variant(cls, cfg) -> str:
        """Sub-folder of the run's experiment folder that names its variant ("" for none)."""
        return ""

    @classmethod
    def base2new_shots_folder(cls, cfg, shots: int) -> str:
        """The ``shots_<K>`` level of the base-to-novel output folders (a method may add its variant)."""
        return f"shots_{shots}"

    @classmethod
    def finalize_cfg(cls, cfg) -> None:
        """Called by ``setup_cfg`` for the selected trainer after every merge, before freezing: overrides
        the official code applies to the merged config (print nothing here: the log starts later)."""

    def __init__(self):
        self._models: "OrderedDict[str, nn.Module]" = OrderedDict()
        self._optims = OrderedDict()
        self._scheds = OrderedDict()
        self._writer = None

    # ------------------------------------------------------------------ model registry
    def register_model(self, name: str = "model", model: nn.Module = None, optim=None, sched=None) -> None:
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot assign model before super().__init__() call")
        if name in self._models:
            raise KeyError(f'Model "{name}" is already registered')
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names=None) -> list:
        names_real = list(self._models.keys())
        if names is None:
            return names_real
        names = [names] if isinstance(names, str) else names
        for name in names:
            if name not in names_real:
                raise KeyError(f'Model "{name}" is not registered (registered: {names_real})')
        return names

    # ------------------------------------------------------------------ checkpoints
    def frozen_keys(self, name: str) -> frozenset:
        """State-dict keys of the registered model ``name`` that hold frozen weights (CLIP's, where the whole
        model is registered, as the official deep-prompt code does): left out of the checkpoints written here
        (they are the backbone file's), not required when loading, and loaded when a checkpoint has them."""
        return frozenset()

    def checkpoint_extras(self) -> dict:
        """Entries of the trainer's own added to every checkpoint (default none)."""
        return {}

    def restore_checkpoint_extras(self, checkpoint: dict, path: str) -> None:
        """Called with each checkpoint a run resumes from (the counterpart of :meth:`checkpoint_extras`)."""

    def save_model(self, epoch: int, directory: str, is_best: bool = False, val_result=None, model_name: str = "",
                   weights_only_learnable: bool = False) -> None:
        """Checkpoint every registered model (rank 0 only). ``weights_only_learnable`` leaves out the
        class-dependent buffers (rebuilt on load anyway): the small rolling resume checkpoint."""
        if not is_main_process():  # one writer in distributed runs
            return
        fingerprint = run_fingerprint(self.cfg) if getattr(self, "cfg", None) is not None else None
        for name in self.get_model_names():
            optim = self._optims[name]
            sched = self._scheds[name]
            frozen = self.frozen_keys(name)
            state_dict = self._models[name].state_dict()
            if frozen:
                state_dict = {k: v for k, v in state_dict.items() if k not in frozen}
            if weights_only_learnable:
                state_dict = {k: v for k, v in state_dict.items() if k.split(".")[-1] not in self.class_dependent_keys}
            state = {
                "state_dict": state_dict,
                "epoch": epoch + 1,
                "optimizer": optim.state_dict() if optim is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
                "val_result": val_result,
                "rng_state": get_rng_state(),  # extra keys (ignored by the reference's loader)
                **self.checkpoint_extras(),
            }
            if fingerprint is not None:
                state.update(config=fingerprint, config_hash=fingerprint_hash(fingerprint))
            # The rolling resume checkpoint is written quietly (the log shows the reference's saves only).
            save_checkpoint(state, os.path.join(directory, name), is_best=is_best, model_name=model_name,
                            quiet=weights_only_learnable)

    def resume_model_if_exist(self, directory: str, required: bool = False) -> int:
        """Resume every registered model from ``directory`` (its ``<name>/checkpoint`` file names the
        latest checkpoint); 0 when there is none, which is an error when ``required`` (--resume DIR)."""
        names = self.get_model_names()
        if not names or not all(os.path.exists(os.path.join(directory, n)) for n in names):
            if required:
                expected = ", ".join(f'"{os.path.join(directory, n, "checkpoint")}"' for n in names) or "a registered model"
                raise FileNotFoundError(
                    f'--resume "{directory}": there is no checkpoint to resume from (expected {expected}, naming the '
                    "latest model.pth.tar-N or model-last.pth.tar). Check the folder, or drop --resume to train from scratch."
                )
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        fingerprint = run_fingerprint(self.cfg) if getattr(self, "cfg", None) is not None else None
        start_epoch = 0
        for name in names:
            start_epoch = resume_from_checkpoint(
                os.path.join(directory, name), self._models[name], self._optims[name], self._scheds[name],
                class_dependent=self.class_dependent_keys, ignored=self.ignored_checkpoint_keys, run_config=fingerprint,
                optional=self.frozen_keys(name), on_load=self.restore_checkpoint_extras,
            )
        return start_epoch

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``model.pth.tar-{epoch}`` (``model-best.pth.tar`` if epoch is None) for every model."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
        for name in self.get_model_names():
            model_path = os.path.join(directory, name, model_file)
            if not os.path.exists(model_path):
                raise FileNotFoundError(f'Model not found at "{model_path}"')
            checkpoint = load_checkpoint(model_path)
            print(f'Loading weights to {name} from "{model_path}" (epoch = {checkpoint["epoch"]})')
            load_state_dict_checked(self._models[name], checkpoint["state_dict"], model_path,
                                    self.class_dependent_keys, self.ignored_checkpoint_keys, self.frozen_keys(name))

    # ------------------------------------------------------------------ modes and updates
    def set_model_mode(self, mode: str = "train", names=None) -> None:
        for name in self.get_model_names(names):
            self._models[name].train(mode == "train")

    def update_lr(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def where(self) -> str:
        """Where training is, for error messages: epoch, batch and the current lr."""
        parts = []
        if hasattr(self, "epoch") and hasattr(self, "max_epoch"):
            parts.append(f"epoch {self.epoch + 1}/{self.max_epoch}")
        if hasattr(self, "batch_idx") and hasattr(self, "num_batches"):
            parts.append(f"batch {self.batch_idx + 1}/{self.num_batches}")
        try:
            parts.append(f"lr {self.get_current_lr():.4e}")
        except Exception:  # noqa: BLE001 - no optimiser: nothing to report
            pass
        return ", ".join(parts)

    def detect_anomaly(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss).all():
            raise RunDiverged(f"Loss is infinite or NaN! ({self.where()}): the run diverged. Lower OPTIM.LR, or use "
                              "PREC fp32 if it diverged in fp16.")

    def check_parameters_finite(self) -> None:
        """After an epoch: every learnable parameter of the registered models must still be finite."""
        for name in self.get_model_names():
            bad = [n for n, p in self._models[name].named_parameters() if p.requires_grad and not torch.isfinite(p).all()]
            if bad:
                raise RunDiverged(f"Learnable parameters {bad} of {name} became infinite or NaN ({self.where()}): the "
                                  "run diverged. Lower OPTIM.LR, or use PREC fp32 if it diverged in fp16.")

    def model_zero_grad(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss: torch.Tensor) -> None:
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss: torch.Tensor, names=None) -> None:
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)

    # ------------------------------------------------------------------ tensorboard
    def init_writer(self, log_dir: str) -> None:
        if not is_main_process():
            return
        if self.__dict__.get("_writer") is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional at run time
                print("Note: tensorboard is not installed; scalars are not written")
                self._writer = None
                return
            print(f"Initialize tensorboard (log_dir={log_dir})")
            self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def write_scalar(self, tag: str, scalar_value, global_step=None) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    # ------------------------------------------------------------------ loop
    def train(self, start_epoch: int, max_epoch: int) -> None:
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self):
        pass

    def after_train(self):
        pass

    def before_epoch(self):
        pass

    def after_epoch(self):
        pass

    def run_epoch(self):
        raise NotImplementedError

    def test(self):
        raise NotImplementedError

    def parse_batch_train(self, batch):
        raise NotImplementedError

    def forward_backward(self, batch):
        raise NotImplementedError

    def model_inference(self, input):
        raise NotImplementedError


class SimpleTrainer(TrainerBase):
    """Builds data, model and evaluator from the config; implements train/test semantics of the spec."""

    def __init__(self, cfg, data=None):
        """``data``: a ready DataManager-like object instead of building the dataset (e.g.
        :class:`vlprompt.data.ClassesOnly` to rebuild a trained model for prediction)."""
        super().__init__()
        self.check_cfg(cfg)
        self.device = run_device(cfg)
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.time_built = time.time()
        # Where the run's wall time goes (printed at the end, recorded in results.json).
        self.timing = {"data": 0.0, "forward_backward": 0.0, "evaluation": 0.0}
        self.cpu = {"evaluation": 0.0}  # CPU (user + system) seconds of the evaluations
        self.build_data_loader(data)
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf

    def check_cfg(self, cfg) -> None:
        """Trainers override this to validate their own keys."""

    # ------------------------------------------------------------------ prediction
    #: Whether a trained model can classify class names it was not trained on (prompt methods can:
    #: their class-dependent parts are rebuilt from the names); methods that learn one weight per
    #: training class set False, or override :meth:`check_new_classes`.
    supports_new_classes = True

    def check_new_classes(self, classnames) -> None:
        """Raise a clear error if this trained model cannot classify ``classnames`` (other than its own)."""
        if not self.supports_new_classes:
            raise ValueError(f"{type(self).__name__} learns one weight per training class: it can only classify the "
                             "classes it was trained on, not new class names")

    def predict_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of preprocessed images, as evaluation computes them (between before_test/after_test)."""
        return self.model_inference(images)

    def run_info(self) -> dict:
        """What rebuilds this run's model for prediction besides its checkpoint (written as classes.json)."""
        ds = self.dm.dataset
        return {"trainer": self.cfg.TRAINER.NAME, "dataset": self.cfg.DATASET.NAME, "classnames": list(ds.classnames),
                "template": ds.template}

    def write_run_info(self) -> None:
        """config.yaml and classes.json in the output folder: with the checkpoint, all that
        :func:`vlprompt.predict.load_classifier` needs (rank 0)."""
        if not is_main_process():
            return
        import json

        from vlprompt.utils.tools import atomic_write_text

        atomic_write_text(os.path.join(self.output_dir, "config.yaml"), self.cfg.dump())
        atomic_write_text(os.path.join(self.output_dir, "classes.json"), json.dumps(self.run_info(), indent=2) + "\n")

    def build_data_loader(self, data=None) -> None:
        dm = data if data is not None else DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self) -> None:
        raise NotImplementedError

    def train(self) -> None:
        try:
            super().train(self.start_epoch, self.max_epoch)
        except RunDiverged as e:
            # Marked failed (not finished) in results.json, so no launcher counts it as a result.
            print(f"Run failed: {e}")
            self.record_results({}, self.cfg.TEST.SPLIT, status="failed", error=str(e))
            raise

    def before_train(self) -> None:
        directory = self.cfg.OUTPUT_DIR
        if self.cfg.RESUME:
            directory = self.cfg.RESUME
        self.start_epoch = self.resume_model_if_exist(directory, required=bool(self.cfg.RESUME))
        if self.start_epoch and self.cfg.TEST.FINAL_MODEL == "best_val":
            self.best_result = self._best_val_so_far(directory)
        writer_dir = os.path.join(self.output_dir, "tensorboard")
        mkdir_if_missing(writer_dir)
        self.init_writer(writer_dir)
        self.time_start = time.time()

    def after_train(self) -> None:
        print("Finish training")
        do_test = not self.cfg.TEST.NO_TEST
        if do_test:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        elapsed = round(time.time() - self.time_start)
        print(f"Elapsed: {datetime.timedelta(seconds=elapsed)}")
        print(self.timing_summary())
        self.close_writer()

    def after_epoch(self) -> None:
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        meet_checkpoint_freq = (
            (self.epoch + 1) % self.cfg.TRAIN.CHECKPOINT_FREQ == 0 if self.cfg.TRAIN.CHECKPOINT_FREQ > 0 else False
        )
        self.check_parameters_finite()
        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            is_best = curr_result > self.best_result
            if is_best:
                self.best_result = curr_result
                self.save_model(self.epoch, self.output_dir, val_result=curr_result, model_name="model-best.pth.tar")
        resume_freq = self.cfg.TRAIN.RESUME_CHECKPOINT_FREQ
        if meet_checkpoint_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)
            if last_epoch:
                self._remove_last_checkpoints()
        elif resume_freq > 0 and (self.epoch + 1) % resume_freq == 0:
            # The rolling resume point (the latest epoch, small): always something for --resume.
            self.save_model(self.epoch, self.output_dir, model_name=LAST_CHECKPOINT, weights_only_learnable=True)

    def _remove_last_checkpoints(self) -> None:
        """The final checkpoint supersedes the rolling resume checkpoint."""
        if not is_main_process():
            return
        for name in self.get_model_names():
            path = os.path.join(self.output_dir, name, LAST_CHECKPOINT)
            if os.path.exists(path):
                os.remove(path)

    def _best_val_so_far(self, directory: str) -> float:
        """The val accuracy of ``model-best.pth.tar`` of a resumed run (so a resumed run keeps its best)."""
        best = -np.inf
        for name in self.get_model_names():
            path = os.path.join(directory, name, "model-best.pth.tar")
            if os.path.exists(path):
                value = load_checkpoint(path).get("val_result")
                best = max(best, value) if value is not None else best
        return best

    def before_test(self) -> None:
        """Hook: e.g. encode the class prompts once for the whole evaluation."""

    def after_test(self) -> None:
        pass

    @torch.no_grad()
    def test(self, split: Optional[str] = None) -> float:
        self.set_model_mode("eval")
        self.evaluator.reset()
        if split is None:
            split = self.cfg.TEST.SPLIT
        t_eval, cpu_eval = time.time(), _cpu_seconds()
        split, data_loader = self.eval_loader(split)
        print(f"Evaluate on the *{split}* set")
        self.before_test()
        local = []  # distributed: each process evaluates a shard; outputs are gathered below
        try:
            for batch in tqdm(data_loader, desc=f"eval {split}", disable=None if is_main_process() else True):
                if batch is None:
                    continue
                input, label = self.parse_batch_test(batch)
                output = self.model_inference(input)
                if is_distributed():
                    local.append((output.float().cpu(), label.cpu()))
                else:
                    self.evaluator.process(output, label)
        finally:
            self.after_test()
        if is_distributed():
            for shard in all_gather_objects(local):
                for output, label in shard:
                    self.evaluator.process(output, label)
        results = self.evaluator.evaluate()
        self.timing["evaluation"] += time.time() - t_eval
        self.cpu["evaluation"] += _cpu_seconds() - cpu_eval
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        if split == self.cfg.TEST.SPLIT:
            self.record_results(results, split, images_evaluated=self.evaluator.num_evaluated)
        return list(results.values())[0]

    def timing_summary(self) -> str:
        """"Time: data 1.2 s (3%), forward/backward ..., evaluation ..., set-up and other ...; total ..." """
        total = time.time() - self.time_built
        parts = [("data", self.timing["data"]), ("forward/backward", self.timing["forward_backward"]),
                 ("evaluation", self.timing["evaluation"])]
        other = total - sum(t for _, t in parts)
        text = ", ".join(f"{name} {t:.1f} s ({100 * t / total:.0f}%)" for name, t in parts + [("set-up and other", other)])
        return f"Time: {text}; total {total:.1f} s"

    def record_results(self, metrics: dict, split: str, status: str = "completed", **extra) -> None:
        """results.json of the run (rank 0): metrics, status and what the run actually used."""
        if not is_main_process():
            return
        times = os.times()
        data = {"precision": getattr(self, "precision", None),
                "time_split_s": {k: round(v, 3) for k, v in self.timing.items()},
                "process": {"wall_since_build_s": round(time.time() - self.time_built, 3),
                            "user_s": round(times.user, 3), "system_s": round(times.system, 3),
                            "evaluation_cpu_s": round(self.cpu["evaluation"], 3),
                            "peak_rss_mb": round(_peak_rss_mb(), 1)}}
        dm = getattr(self, "dm", None)
        if dm is not None:
            report = getattr(dm, "validation_report", None) or {}
            data["images_skipped"] = report.get("num_skipped", {})
            data["data_validation"] = report.get("mode")
            data["shots_obtained"] = getattr(dm.dataset, "fewshot_report", None)
        write_results(self.cfg, metrics, split=split, method=self.method_tag(), device=str(self.device),
                      wall_time=time.time() - self.time_built, world_size=get_world_size(), status=status,
                      **data, **extra)

    def eval_loader(self, split: str):
        """(split actually used, loader) for an evaluation; "val" falls back to "test" when there is no
        val split. Trainers that evaluate on something else (cached features) override this."""
        if split == "val" and self.val_loader is not None:
            return "val", self.val_loader
        return "test", self.test_loader

    def method_tag(self) -> str:
        """How results of this run are labelled in tables and plots: the registered name, with the
        variant details the method gives (:meth:`method_details`)."""
        details = self.method_details()
        return f"{type(self).__name__} ({details})" if details else type(self).__name__

    def method_details(self) -> str:
        """Variant details for :meth:`method_tag` (e.g. CoOp's "M=16, unified, end"); "" for none."""
        return ""

    def model_inference(self, input):
        return self.model(input)

    def parse_batch_test(self, batch):
        return batch_inputs(batch).to(self.device), batch["label"].to(self.device)

    def get_current_lr(self, names=None) -> float:
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]


class TrainerX(SimpleTrainer):
    """A trainer over the labelled loader ``train_loader_x``."""

    def epoch_batches(self) -> int:
        """Batches the current epoch runs: the whole loader. A method with a budget of iterations (not
        a multiple of the epoch length) overrides this to end its last epoch early."""
        return len(self.train_loader_x)

    def _lr_step_due(self) -> bool:
        return self.lr_step_per_iteration or self.batch_idx + 1 == self.num_batches

    def run_epoch(self) -> None:
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = self.epoch_batches()
        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):
            if self.batch_idx >= self.num_batches:
                break
            data_time.update(time.time() - end)
            if batch is None:  # every image of the batch was unreadable and skipped
                if self._lr_step_due():
                    self.update_lr()
                end = time.time()
                continue
            loss_summary = self.forward_backward(batch)
            self.timing["data"] += data_time.val
            self.timing["forward_backward"] += time.time() - end - data_time.val
            if self._lr_step_due():
                # Once per epoch, after the last optimiser step and before its log line (so that line
                # already shows the next epoch's lr, as the reference's); or after every step.
                self.update_lr()
            batch_time.update(time.time() - end)
            losses.update(loss_summary)

            meet_freq = (self.batch_idx + 1) % self.cfg.TRAIN.PRINT_FREQ == 0
            only_few_batches = self.num_batches < self.cfg.TRAIN.PRINT_FREQ
            if meet_freq or only_few_batches:
                nb_remain = self.num_batches - self.batch_idx - 1
                nb_remain += (self.max_epoch - self.epoch - 1) * self.num_batches
                eta = str(datetime.timedelta(seconds=int(batch_time.avg * nb_remain)))
                info = [
                    f"epoch [{self.epoch + 1}/{self.max_epoch}]",
                    f"batch [{self.batch_idx + 1}/{self.num_batches}]",
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
                    f"data {data_time.val:.3f} ({data_time.avg:.3f})",
                    f"{losses}",
                    f"lr {self.get_current_lr():.4e}",
                    f"eta {eta}",
                ]
                print(" ".join(info))

            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            end = time.time()

    def parse_batch_train(self, batch):
        return batch_inputs(batch).to(self.device), batch["label"].to(self.device)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch_inputs(batch: dict) -> torch.Tensor:
    """A batch's inputs: images (``img``) or, from a feature loader, cached image features (``feat``)."""
    return batch["feat"] if "feat" in batch else batch["img"]
