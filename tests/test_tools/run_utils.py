"""What the training-tool tests share: running a tool as a user would and reading the scalars
MMEngine logged."""
import os
import os.path as osp
import socket
import subprocess
import sys
from typing import List

from asl_mmdet.utils.scalars import read_scalars

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))


def run_tool(*args: str) -> str:
    """Run ``python ARGS`` in the repository root; assert it succeeds; return its output."""
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def dist_train(cfg_path: str, work_dir: str, gpus: int = 2) -> str:
    """Run ``tools/dist_train.sh`` (torchrun; gloo without a GPU) on a free port; assert it
    succeeds and ran distributed; return its output."""
    env = dict(ENV, PORT=free_port(), PATH=osp.dirname(sys.executable) + os.pathsep + ENV['PATH'])
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', cfg_path, str(gpus), '--work-dir', work_dir], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert 'Distributed training: True' in log
    return log


def records_with(work_dir: str, key: str) -> List[dict]:
    """The records of a work dir's scalars.json files that hold ``key``, in logging order
    (``'loss'``: training records; a metric: evaluations)."""
    return [record for record in read_scalars(work_dir) if key in record]


def free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])
