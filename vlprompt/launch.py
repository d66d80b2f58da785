"""One home for launching runs: the train.py command, the output folder, and whether a run is finished.

Every way of starting runs goes through here: the shell scripts (``scripts/common/*.sh`` and the
per-method wrappers), ``scripts/sweep.py``, the MiniCLIP report, ``make demo`` and the tests.

Protocols and their output folders (the original scripts' layouts; ``OUT`` is the output root,
``output`` by default; ``<variant>`` is the sub-folder a method names with ``output_variant``, e.g.
CoOp's ``nctx16_cscFalse_ctpend``, and is absent for methods without one):

    fewshot          OUT/<dataset>/<Trainer>/<cfg>_<K>shots[/<variant>]/seed<S>
    base2new_train   OUT/base2new/train_base/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>   (base classes)
    base2new_test    OUT/base2new/test_new/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>     (new classes)
                     (shots_<K>: the trainer's ``base2new_shots_folder``, e.g. KgCoOp's shots_16_8.0)
    xd_train         the fewshot folder of the source dataset (ImageNet, 16 shots)
    xd_test          OUT/evaluation/<Trainer>/<cfg>_<K>shots[/<variant>]/<dataset>/seed<S> (full target data)
    zeroshot         OUT/<Trainer>/<cfg>/<dataset>[_base|_new]                             (unseeded)

The evaluation protocols load the model of their training protocol (``--model-dir``) at
``--load-epoch`` (default: the trainer's ``final_epoch``, the config's OPTIM.MAX_EPOCH, i.e. the last
checkpoint; for methods whose epoch count depends on the data, no ``--load-epoch``: the final checkpoint).
A protocol a method cannot run (its ``unsupported_protocols``, e.g. base-to-novel for Tip-Adapter) is an
error with the method's explanation, before anything runs.

**One rule** for every launcher: a run is *finished* when its folder holds ``results.json`` (written
after the final evaluation), and is skipped; a folder without one is an *interrupted* run, which
train.py resumes from its last checkpoint in that folder (a run that crashed is tried again, so the
scripts never count it as done). A run whose results.json says ``"status": "failed"`` (it diverged)
is reported as failed and not repeated.

Command line (what the shell scripts call)::

    python -m vlprompt.launch fewshot --trainer CoOp --dataset caltech101 --config rn50_ep50 \
        --shots 16 --seeds 1 2 3 --root $DATA [-- KEY VALUE ...]
    python -m vlprompt.launch base2new_test --trainer CoCoOp --dataset dtd --config <cfg> --seeds 1
    python -m vlprompt.launch ... --print          # the train.py commands of unfinished runs
    python -m vlprompt.launch ... --print-dir      # the experiment folder (for parse_test_res.py)
    VLPROMPT_IN_PROCESS=1 python -m vlprompt.launch ...   # the runs in this process (no start-up per seed)

``--config`` / ``--dataset`` take a stem (looked up in ``configs/trainers/<Trainer>/`` and
``configs/datasets/``, then beside plug-in files: ``<plug-in folder>/configs/trainers/<Trainer>/`` and
``<plug-in folder>/configs/datasets/``) or a path to a YAML file (the stem then names the folder).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
TRAIN_PY = REPO / "train.py"

PROTOCOLS = ("fewshot", "base2new_train", "base2new_test", "xd_train", "xd_test", "zeroshot")
EVAL_PROTOCOLS = ("base2new_test", "xd_test", "zeroshot")
RESULTS_FILE = "results.json"


# ----------------------------------------------------------------------------- config files
def _is_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or os.sep in name


def _stem(name: str) -> str:
    return Path(name).stem if _is_path(name) else name


def _plugin_folders(kind: str) -> List[Path]:
    """Folders holding plug-ins of ``kind`` ("trainers" or "datasets") outside the repository."""
    extra = os.environ.get(f"VLPROMPT_{kind.upper()}_PATH", "")
    return [Path(f) for f in extra.split(os.pathsep) if f]


def _find(name: str, candidates: Sequence[Path], what: str) -> str:
    if _is_path(name):
        if not os.path.isfile(name):
            raise FileNotFoundError(f'{what} "{name}" does not exist')
        return os.path.abspath(name)
    for folder in candidates:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return str(path)
    searched = "\n".join(f"  {folder}/" for folder in candidates)
    raise FileNotFoundError(f'{what} "{name}" not found; looked for {name}.yaml in:\n{searched}\n'
                            "Pass a stem from one of these folders or the path to a YAML file.")


def trainer_config_dir(trainer: str) -> str:
    """The folder name under ``configs/trainers/`` of a trainer's configs (ZeroshotCLIP uses CoOp's)."""
    return getattr(trainer_class(trainer), "config_dir", trainer)


def find_trainer_config(trainer: str, config: str) -> str:
    """Path of a trainer config given as a stem (searched as in the module docstring) or a path."""
    sub = trainer_config_dir(trainer)
    module_file = getattr(sys.modules.get(trainer_class(trainer).__module__), "__file__", None)
    folders = [REPO / "configs" / "trainers" / sub]
    if module_file:
        folders.append(Path(module_file).resolve().parent / "configs" / "trainers" / sub)
    folders += [f / "configs" / "trainers" / sub for f in _plugin_folders("trainers")]
    return _find(config, list(dict.fromkeys(folders)), f"Trainer config for {trainer}")


def find_dataset_config(dataset: str) -> str:
    """Path of a dataset config given as a stem (``configs/datasets/<stem>.yaml``, or beside plug-in
    readers: ``<folder>/configs/datasets/``) or a path."""
    folders = [REPO / "configs" / "datasets"] + [f / "configs" / "datasets" for f in _plugin_folders("datasets")]
    return _find(dataset, folders, "Dataset config")


@lru_cache(maxsize=None)
def trainer_class(trainer: str):
    from vlprompt.engine import TRAINER_REGISTRY

    return TRAINER_REGISTRY.get(trainer)


@lru_cache(maxsize=64)
def _merged_cfg(dataset_cfg: str, trainer_cfg: str, opts: Tuple[str, ...]):
    from vlprompt.config import setup_cfg

    return setup_cfg(dataset_config_file=dataset_cfg, config_file=trainer_cfg, opts=list(opts))


# ----------------------------------------------------------------------------- one run
def train_argv(root: str, trainer: str, dataset_config: str, config: str, output_dir: str,
               seed: Optional[int] = None, eval_only: bool = False, model_dir: str = "",
               load_epoch: Optional[int] = None, flags: Sequence[str] = (), opts: Sequence[str] = ()) -> List[str]:
    """train.py's arguments in the original order: flags, then ``KEY VALUE`` options (the only place
    that spells them; :class:`RunSpec` and the tests use it)."""
    args = ["--root", str(root)]
    if seed is not None:
        args += ["--seed", str(seed)]
    args += ["--trainer", trainer, "--dataset-config-file", str(dataset_config), "--config-file", str(config),
             "--output-dir", str(output_dir)]
    if model_dir:
        args += ["--model-dir", str(model_dir)]
        if load_epoch is not None:
            args += ["--load-epoch", str(load_epoch)]
    if eval_only:
        args.append("--eval-only")
    return args + list(flags) + [str(o) for o in opts]


@dataclass(frozen=True)
class RunSpec:
    """One train.py run of a protocol; every path and argument is derived from these fields."""

    protocol: str
    trainer: str
    dataset: str  # dataset config stem or YAML path (the target dataset for xd_test)
    config: str  # trainer config stem or YAML path
    seed: int = 1  # -1: unseeded (zeroshot)
    shots: int = 16
    root: str = ""  # DATASET.ROOT (the scripts' DATA)
    output_root: str = "output"
    opts: Tuple[str, ...] = ()  # extra KEY VALUE config options
    source: str = "imagenet"  # xd_test: the dataset the model was trained on
    load_epoch: Optional[int] = None  # evaluation protocols: default OPTIM.MAX_EPOCH
    extra_flags: Tuple[str, ...] = field(default=())  # further train.py flags (e.g. --no-train)
    subsample: str = "all"  # zeroshot only: evaluate on all / base / new classes (the others: by protocol)

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f'Unknown protocol "{self.protocol}"; one of {list(PROTOCOLS)}')
        if len(self.opts) % 2:
            raise ValueError(f"Config options must be KEY VALUE pairs, got {list(self.opts)}")

    # -------------------------------------------------------------- derived
    @property
    def dataset_config(self) -> str:
        return find_dataset_config(self.dataset)

    @property
    def trainer_config(self) -> str:
        return find_trainer_config(self.trainer, self.config)

    @property
    def protocol_opts(self) -> Tuple[str, ...]:
        """The options the protocol itself sets (after the user's, as the original scripts)."""
        if self.protocol in ("fewshot", "xd_train"):
            return ("DATASET.NUM_SHOTS", str(self.shots))
        if self.protocol == "base2new_train":
            return ("DATASET.NUM_SHOTS", str(self.shots), "DATASET.SUBSAMPLE_CLASSES", "base")
        if self.protocol == "base2new_test":
            return ("DATASET.NUM_SHOTS", str(self.shots), "DATASET.SUBSAMPLE_CLASSES", "new")
        if self.protocol == "zeroshot" and self.subsample != "all":
            return ("DATASET.SUBSAMPLE_CLASSES", self.subsample)
        return ()

    def cfg(self, dataset: Optional[str] = None):
        """The merged config (defaults, dataset YAML, trainer YAML, options, the trainer's ``finalize_cfg``)."""
        ds = find_dataset_config(dataset) if dataset else self.dataset_config
        return _merged_cfg(ds, self.trainer_config, ("TRAINER.NAME", self.trainer) + tuple(self.opts) + self.protocol_opts)

    def _variant(self) -> str:
        return trainer_class(self.trainer).output_variant(self.cfg())

    def _fewshot_dir(self, dataset: str) -> str:
        parts = [self.output_root, _stem(dataset), self.trainer, f"{_stem(self.config)}_{self.shots}shots"]
        variant = self._variant()
        return os.path.join(*parts, *([variant] if variant else []), f"seed{self.seed}")

    def _base2new_dir(self, part: str) -> str:
        shots = trainer_class(self.trainer).base2new_shots_folder(self.cfg(), self.shots)
        return os.path.join(self.output_root, "base2new", part, _stem(self.dataset), shots,
                            self.trainer, _stem(self.config), f"seed{self.seed}")

    @property
    def output_dir(self) -> str:
        p = self.protocol
        if p in ("fewshot", "xd_train"):
            return self._fewshot_dir(self.dataset)
        if p == "base2new_train":
            return self._base2new_dir("train_base")
        if p == "base2new_test":
            return self._base2new_dir("test_new")
        if p == "xd_test":
            exp = [self.output_root, "evaluation", self.trainer, f"{_stem(self.config)}_{self.shots}shots"]
            variant = self._variant()
            return os.path.join(*exp, *([variant] if variant else []), _stem(self.dataset), f"seed{self.seed}")
        dataset = _stem(self.dataset) + ("" if self.subsample == "all" else f"_{self.subsample}")
        return os.path.join(self.output_root, self.trainer, _stem(self.config), dataset)  # zeroshot

    @property
    def experiment_dir(self) -> str:
        """The folder whose sub-folders are the seeds (the run folder itself for unseeded runs)."""
        return self.output_dir if self.protocol == "zeroshot" else os.path.dirname(self.output_dir)

    @property
    def model_dir(self) -> str:
        """The training run an evaluation protocol loads ("" for training protocols and zero-shot)."""
        if self.protocol == "base2new_test":
            return self._base2new_dir("train_base")
        if self.protocol == "xd_test":
            return self._fewshot_dir(self.source)
        return ""

    @property
    def epoch_to_load(self) -> Optional[int]:
        if self.protocol not in ("base2new_test", "xd_test"):
            return None
        if self.load_epoch is not None:
            return self.load_epoch
        source = self.source if self.protocol == "xd_test" else None
        return trainer_class(self.trainer).final_epoch(self.cfg(source))  # None: the final checkpoint

    def argv(self) -> List[str]:
        """train.py's arguments: the original flags, then the KEY VALUE options."""
        return train_argv(self.root, self.trainer, self.dataset_config, self.trainer_config, self.output_dir,
                          seed=None if self.protocol == "zeroshot" else self.seed,
                          eval_only=self.protocol in EVAL_PROTOCOLS, model_dir=self.model_dir,
                          load_epoch=self.epoch_to_load, flags=self.extra_flags,
                          opts=tuple(self.opts) + self.protocol_opts)

    def command(self, python: str = sys.executable) -> List[str]:
        return [python, str(TRAIN_PY), *self.argv()]

    def results(self) -> dict:
        """The run's results.json (after it finished)."""
        with open(os.path.join(self.output_dir, RESULTS_FILE)) as f:
            return json.load(f)

    def status(self) -> str:
        """"finished" (results.json), "failed" (results.json with status "failed"), "interrupted"
        (folder without results.json: resumed by train.py) or "new"."""
        return run_status(self.output_dir)


class ProtocolNotSupported(ValueError):
    """The trainer cannot run this protocol (its ``unsupported_protocols`` says why)."""


def check_protocol(spec: RunSpec) -> None:
    """Raise :class:`ProtocolNotSupported` with the method's explanation if it cannot run ``spec.protocol``."""
    reason = getattr(trainer_class(spec.trainer), "unsupported_protocols", {}).get(spec.protocol)
    if reason:
        raise ProtocolNotSupported(f"{spec.trainer} cannot run the {spec.protocol} protocol: {reason}")


def failure_reason(output_dir: str) -> str:
    """The ``error`` a failed run recorded in its results.json."""
    try:
        with open(os.path.join(output_dir, RESULTS_FILE)) as f:
            return json.load(f).get("error", "no reason recorded")
    except (OSError, ValueError):
        return "results.json unreadable"


def run_status(output_dir: str) -> str:
    path = os.path.join(output_dir, RESULTS_FILE)
    if os.path.isfile(path):
        try:
            with open(path) as f:
                status = json.load(f).get("status", "completed")
        except (OSError, ValueError):
            return "interrupted"  # unreadable: treated as not finished, the run is repeated
        return "failed" if status == "failed" else "finished"
    return "interrupted" if os.path.isdir(output_dir) else "new"


# ----------------------------------------------------------------------------- running
def run_in_process(argv: Sequence[str]) -> None:
    """``train.py`` in this process (tests and the MiniCLIP report: no interpreter start-up per run).
    train.py tees stdout into log.txt; the original stdout is restored afterwards."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import train

    saved = sys.stdout
    try:
        train.main(list(argv))
    finally:
        if sys.stdout is not saved:
            sys.stdout.flush()
            sys.stdout.close()
            sys.stdout = saved


@dataclass
class LaunchSummary:
    """What :func:`launch` did: runs started, finished runs skipped, runs that failed."""

    ran: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def returncode(self) -> int:
        return 1 if self.failed else 0

    def __str__(self) -> str:
        return f"Done: {self.ran} run, {self.skipped} skipped, {self.failed} failed"


LAUNCHERS = ("sequential", "local", "slurm", "submitit-local")


@dataclass
class Launcher:
    """Where runs execute. ``sequential``: one after another in this process's machine (the default of
    the scripts). ``local``: ``workers`` parallel train.py processes; with ``gpus`` > 0, ``runs_per_gpu``
    runs share each GPU (CUDA_VISIBLE_DEVICES per worker slot). ``slurm``: a submitit job array on a Slurm
    cluster (requeued when pre-empted or timed out, and then resumed from its last checkpoint, by the
    one rule); ``submitit-local``: the same jobs through submitit's local executor (for tests and
    machines without Slurm). ``log_dir``: per-run stdout/stderr files (and submitit's folder)."""

    kind: str = "sequential"
    workers: int = 1
    gpus: int = 0
    runs_per_gpu: int = 1
    log_dir: Optional[str] = None
    wait: bool = True  # slurm: block until the jobs end (else submit and return)
    timeout_min: int = 24 * 60
    partition: str = ""
    account: str = ""
    gpus_per_job: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 0
    array_parallelism: int = 256

    def __post_init__(self):
        if self.kind not in LAUNCHERS:
            raise ValueError(f'Unknown launcher "{self.kind}"; one of {list(LAUNCHERS)}')
        if self.workers < 1 or self.runs_per_gpu < 1 or self.gpus < 0:
            raise ValueError("--workers and --runs-per-gpu must be >= 1, --gpus >= 0")


def _triage(specs: Sequence[RunSpec], summary: "LaunchSummary") -> List[RunSpec]:
    """The specs to run; finished ones are skipped (the scripts' message), failed ones reported."""
    todo = []
    for spec in specs:
        status = spec.status()
        if status == "finished":
            print(f"Oops! The results exist at {spec.output_dir} (so skip this job)", flush=True)
            summary.skipped += 1
        elif status == "failed":
            # A diverged run is deterministic: running it again would fail again.
            print(f"The run in {spec.output_dir} failed earlier ({failure_reason(spec.output_dir)}); see its log.txt. "
                  "Change its configuration, or delete the folder to run it again.", file=sys.stderr, flush=True)
            summary.failed += 1
        else:
            todo.append(spec)
    return todo


def _stages(specs: Sequence[RunSpec]) -> List[List[RunSpec]]:
    """Training runs first, then the evaluations that load their models (base2new_test, xd_test)."""
    train = [s for s in specs if s.protocol not in ("base2new_test", "xd_test")]
    evaluate = [s for s in specs if s.protocol in ("base2new_test", "xd_test")]
    return [stage for stage in (train, evaluate) if stage]


def _log_file(launcher: Launcher, spec: RunSpec) -> Optional[str]:
    if not launcher.log_dir:
        return None
    os.makedirs(launcher.log_dir, exist_ok=True)
    return os.path.join(launcher.log_dir, spec.output_dir.strip(os.sep).replace(os.sep, "__") + ".log")


def _report(spec: RunSpec, rc: int, summary: "LaunchSummary") -> bool:
    """Count the outcome of a run; True when it finished."""
    if rc != 0 or spec.status() != "finished":
        summary.failed += 1
        print(f"Run failed (exit {rc}): see {os.path.join(spec.output_dir, 'log.txt')}", file=sys.stderr, flush=True)
        return False
    return True


def launch(specs: Sequence[RunSpec], keep_going: bool = False, in_process: bool = False, quiet: bool = False,
           progress: bool = False, launcher: Optional[Launcher] = None) -> LaunchSummary:
    """Run every unfinished spec (finished ones are skipped, failed ones reported), training runs before
    the evaluations that need them.

    ``quiet`` hides train.py's output (it is in each run's log.txt); ``progress`` prints ``[i/n] folder``
    before each run; ``in_process`` runs train.py in this process (sequential only). With the sequential
    launcher the first failure stops the rest unless ``keep_going``; parallel launchers run everything.
    """
    for spec in specs:
        check_protocol(spec)
    launcher = launcher or Launcher()
    summary = LaunchSummary()
    for stage in _stages(specs):
        todo = _triage(stage, summary)
        if summary.failed and not keep_going and launcher.kind == "sequential":
            return summary
        if launcher.kind == "sequential":
            ok = _run_sequential(todo, summary, in_process, quiet, progress, keep_going, launcher)
        elif launcher.kind == "local":
            ok = _run_parallel(todo, summary, launcher, progress)
        else:
            ok = _run_submitit(todo, summary, launcher)
        if not ok:
            break
    return summary


def _run_sequential(todo, summary, in_process, quiet, progress, keep_going, launcher) -> bool:
    for i, spec in enumerate(todo, start=1):
        if progress:
            print(f"[{i}/{len(todo)}] {spec.output_dir}", flush=True)
        if spec.status() == "interrupted" and spec.protocol not in EVAL_PROTOCOLS:
            print(f"Resuming the unfinished run in {spec.output_dir}", flush=True)
        summary.ran += 1
        if in_process:
            try:
                run_in_process(spec.argv())
                rc = 0
            except (Exception, SystemExit) as e:  # reported like a failed subprocess
                print(f"Run failed: {type(e).__name__}: {e}", file=sys.stderr)
                rc = 1
        else:
            log = _log_file(launcher, spec)
            with open(log, "w") if log else contextlib.nullcontext() as out:
                sink = out if log else (subprocess.DEVNULL if quiet else None)
                rc = subprocess.run(spec.command(), stdout=sink, stderr=subprocess.STDOUT if log else None).returncode
        if not _report(spec, rc, summary) and not keep_going:
            return False
    return True


def _run_parallel(todo, summary, launcher: Launcher, progress: bool) -> bool:
    """``workers`` train.py processes at a time; GPU runs are pinned through CUDA_VISIBLE_DEVICES."""
    import queue
    import threading
    from concurrent.futures import ThreadPoolExecutor

    n_slots = launcher.gpus * launcher.runs_per_gpu if launcher.gpus else launcher.workers
    slots: "queue.Queue[int]" = queue.Queue()
    for i in range(n_slots):
        slots.put(i)
    lock = threading.Lock()
    counter = iter(range(1, len(todo) + 1))

    def run(spec: RunSpec) -> None:
        slot = slots.get()
        try:
            env = dict(os.environ)
            if launcher.gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(slot // launcher.runs_per_gpu)
            else:
                env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n_slots)))
            with lock:
                summary.ran += 1
                if progress:
                    print(f"[{next(counter)}/{len(todo)}] {spec.output_dir}", flush=True)
            log = _log_file(launcher, spec)
            with open(log, "w") if log else open(os.devnull, "w") as out:
                rc = subprocess.run(spec.command(), stdout=out, stderr=subprocess.STDOUT, env=env).returncode
            with lock:
                _report(spec, rc, summary)
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(max_workers=n_slots) as pool:
        list(pool.map(run, todo))
    return True


class TrainJob:
    """One train.py run as a submitit job. When Slurm pre-empts it or its time runs out, submitit calls
    :meth:`checkpoint` and requeues the same command, which resumes from the run's last checkpoint."""

    def __call__(self, command: List[str], cwd: str) -> int:
        rc = subprocess.run(command, cwd=cwd).returncode
        if rc != 0:
            raise RuntimeError(f"train.py exited with status {rc}: {shlex.join(command)}")
        return rc

    def checkpoint(self, command: List[str], cwd: str):
        import submitit

        return submitit.helpers.DelayedSubmission(TrainJob(), command, cwd)


def _run_submitit(todo, summary, launcher: Launcher) -> bool:
    try:
        import submitit
    except ImportError:
        raise RuntimeError("The slurm / submitit-local launchers need submitit: pip install submitit") from None
    if not todo:
        return True
    folder = launcher.log_dir or os.path.join("output", "submitit")
    executor = submitit.AutoExecutor(folder=folder, cluster="local" if launcher.kind == "submitit-local" else "slurm")
    params = dict(timeout_min=launcher.timeout_min, name="vlprompt")
    if launcher.kind == "slurm":
        params.update(gpus_per_node=launcher.gpus_per_job, cpus_per_task=launcher.cpus_per_task,
                      slurm_array_parallelism=launcher.array_parallelism)
        if launcher.partition:
            params["slurm_partition"] = launcher.partition
        if launcher.account:
            params["slurm_account"] = launcher.account
        if launcher.mem_gb:
            params["mem_gb"] = launcher.mem_gb
    executor.update_parameters(**params)
    cwd = os.getcwd()
    jobs = executor.map_array(TrainJob(), [spec.command() for spec in todo], [cwd] * len(todo))
    summary.ran += len(jobs)
    print(f"Submitted {len(jobs)} job(s) ({launcher.kind}): {', '.join(j.job_id for j in jobs[:5])}"
          f"{' ...' if len(jobs) > 5 else ''}; logs in {folder}", flush=True)
    if not launcher.wait:
        return False  # the evaluations that need these runs are submitted on the next launch
    for spec, job in zip(todo, jobs):
        error = job.exception()
        _report(spec, 0 if error is None else 1, summary)
    return True


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """The launcher flags shared by scripts/sweep.py and python -m vlprompt.reproduce."""
    g = parser.add_argument_group("where the runs execute")
    g.add_argument("--launcher", default="sequential", choices=LAUNCHERS)
    g.add_argument("--workers", type=int, default=1, help="local: parallel runs (CPU)")
    g.add_argument("--gpus", type=int, default=0, help="local: GPUs to use (one worker slot per GPU x --runs-per-gpu)")
    g.add_argument("--runs-per-gpu", type=int, default=1, help="local: runs sharing one GPU (small runs)")
    g.add_argument("--log-dir", default=None, help="per-run stdout/stderr (and submitit's job folder)")
    g.add_argument("--no-wait", action="store_true", help="slurm: submit and return (run again to submit the "
                                                        "evaluations once the training jobs finished)")
    g.add_argument("--time", type=int, default=24 * 60, help="slurm: minutes per job")
    g.add_argument("--partition", default="")
    g.add_argument("--account", default="")
    g.add_argument("--gpus-per-job", type=int, default=1)
    g.add_argument("--cpus-per-task", type=int, default=8)
    g.add_argument("--mem-gb", type=int, default=0)
    g.add_argument("--array-parallelism", type=int, default=256)


def launcher_from_args(args) -> Launcher:
    return Launcher(args.launcher, workers=args.workers, gpus=args.gpus, runs_per_gpu=args.runs_per_gpu,
                    log_dir=args.log_dir, wait=not args.no_wait, timeout_min=args.time, partition=args.partition,
                    account=args.account, gpus_per_job=args.gpus_per_job, cpus_per_task=args.cpus_per_task,
                    mem_gb=args.mem_gb, array_parallelism=args.array_parallelism)


# ----------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vlprompt.launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocol", choices=PROTOCOLS)
    p.add_argument("--trainer", required=True, help="registered trainer name (e.g. CoOp, CoCoOp)")
    p.add_argument("--dataset", required=True, help="dataset config stem or YAML (the target for xd_test)")
    p.add_argument("--config", required=True, help="trainer config stem or YAML")
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--root", default=os.environ.get("DATA", ""), help="datasets folder (default: $DATA)")
    p.add_argument("--output-root", default="output")
    p.add_argument("--source", default="imagenet", help="xd_test: the dataset the model was trained on")
    p.add_argument("--load-epoch", type=int, default=None, help="evaluation protocols (default: OPTIM.MAX_EPOCH)")
    p.add_argument("--keep-going", action="store_true", help="continue with the next run after a failure")
    p.add_argument("--print", action="store_true", help="print the train.py commands of unfinished runs")
    p.add_argument("--print-dir", action="store_true", help="print the experiment folder and exit")
    return p


def specs_from_args(args) -> List[RunSpec]:
    seeds = [-1] if args.protocol == "zeroshot" else args.seeds
    return [RunSpec(args.protocol, args.trainer, args.dataset, args.config, seed=s, shots=args.shots,
                    root=args.root, output_root=args.output_root, opts=tuple(args.opts), source=args.source,
                    load_epoch=args.load_epoch) for s in seeds]


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    parser = build_parser()
    args = parser.parse_args(argv[:split])
    args.opts = argv[split + 1:]  # KEY VALUE config options follow "--"
    flags = [o for o in args.opts[0::2] if o.startswith("--")]
    if flags or len(args.opts) % 2:
        parser.error(f"after '--' come KEY VALUE config options only, got {args.opts}"
                     + (f"; launcher flags such as {flags[0]} go before '--'" if flags else ""))
    specs = specs_from_args(args)
    try:
        for spec in specs:
            check_protocol(spec)
    except ProtocolNotSupported as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.print_dir:
        print(specs[0].experiment_dir)
        return 0
    if args.print:
        for spec in specs:
            if spec.status() != "finished":
                print(shlex.join(spec.command()))
        return 0
    # VLPROMPT_IN_PROCESS=1: every train.py run in this process (one interpreter start-up for all seeds).
    in_process = os.environ.get("VLPROMPT_IN_PROCESS", "") == "1"
    return launch(specs, keep_going=args.keep_going, in_process=in_process).returncode


if __name__ == "__main__":
    sys.exit(main())
