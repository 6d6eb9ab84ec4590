"""What tools/train.py and tools/test.py share: arguments and config set-up, MMDetection-style."""
import argparse
import atexit
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict, DictAction

__all__ = ['add_common_args', 'check_files', 'load_config', 'allow_full_checkpoint_load',
           'setup_cpu_distributed', 'shutdown_distributed']


def allow_full_checkpoint_load() -> None:
    """Let MMEngine load its own checkpoints on torch >= 2.6.

    mmengine 0.10 calls ``torch.load`` without ``weights_only``; torch >= 2.6 defaults it to
    True, which rejects the message hub and optimizer state that ``--resume`` needs. The
    checkpoints these tools load are the user's own: restore the full load, unless the user
    set the variable already.
    """
    os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed launchers pass --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def check_files(parser: argparse.ArgumentParser, **paths: str) -> None:
    """``parser.error`` (usage and exit status 2, no traceback) for a path that is not a file.

    Args:
        parser (ArgumentParser): the tool's parser.
        **paths (str): the argument's name (``_`` for ``-``) and the path it holds (None:
            not given; a URL such as ``s3://...`` is left to MMEngine's file backends).
    """
    for name, path in paths.items():
        if path is not None and '://' not in path and not osp.isfile(path):
            parser.error(f'{name.replace("_", "-")} {path!r}: no such file')


def load_config(args: argparse.Namespace) -> Config:
    """Read the config, apply --cfg-options, --launcher and --work-dir like MMDetection."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    allow_full_checkpoint_load()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    setup_cpu_distributed(cfg)
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` (torchrun) run on machines without a GPU.

    MMEngine's launcher calls ``torch.cuda.set_device`` before ``init_process_group`` and
    wraps the model with ``device_ids=[LOCAL_RANK]``; both fail without CUDA. There, start the
    process group with gloo here (the Runner then uses it as it is) and wrap with
    ``device_ids=None``. With CUDA nothing changes.
    """
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    dist_cfg = cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', ConfigDict())
    dist_cfg.backend = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                     broadcast_buffers=False)


def shutdown_distributed() -> None:
    """End a distributed tool run: destroy the process group and exit without interpreter
    finalization. Does not return when a process group is initialised.

    Why: with gloo, the process group's worker threads (``pt_gloo_runloop``) free each
    collective's work object, tensors included, after the caller's ``wait()`` has returned.
    Tensors created in Python need the GIL to be freed. ``destroy_process_group()`` only
    unregisters the group: the DDP wrapper keeps references to it (torch 2.14 leaks about ten
    per wrapper; they survive the wrapper), so the worker threads live on. If the main thread
    begins interpreter finalization before a worker has freed the last collective's tensors,
    Python 3.11 ends that worker with ``pthread_exit`` inside the C++ destructor
    (``~AsyncWork`` -> ``TensorImpl::decref_pyobject`` -> ``gil_scoped_acquire``), the
    forced unwind meets a ``noexcept`` frame, and the whole process aborts ("terminate called
    without an active exception", SIGABRT) after a run that trained and saved fine.

    So the exit handlers run as at a normal exit (MMEngine's and the logging module's
    included), standard streams are flushed, and the process ends with ``os._exit(0)``:
    the finalization phase in which the race lives never starts.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.destroy_process_group()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)
