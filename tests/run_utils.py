"""What the tests that run Python in a subprocess share: the repository root, the environment
(the repository on ``PYTHONPATH``), running a tool as a user would, and reading the scalars
MMEngine logged."""
import json
import os
import os.path as osp
import socket
import struct
import subprocess
import sys
from typing import List, Optional

from asl_mmdet.analysis.logs import read_scalars

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# demo_config's settings for the tiny generated datasets of the tests (the `data_root` fixture)
SMALL = dict(image_size=96, batch_size=2, num_workers=0)


def python_env(*paths: str, interpret: bool = True) -> dict:
    """This process' environment with ``paths`` and the repository first on ``PYTHONPATH``;
    without ``TRITON_INTERPRET`` if not ``interpret`` (kernels compiled for a GPU target)."""
    env = {k: v for k, v in os.environ.items() if interpret or k != 'TRITON_INTERPRET'}
    env['PYTHONPATH'] = os.pathsep.join(p for p in (*paths, ROOT, env.get('PYTHONPATH')) if p)
    return env


ENV = python_env()


def run_python(*args: str, env: Optional[dict] = None, cwd: str = ROOT,
               timeout: float = 600) -> subprocess.CompletedProcess:
    """``python ARGS`` (a script and its arguments, or ``-c CODE``) in ``cwd`` with ``env``
    (default :data:`ENV`), its output captured as text."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=ENV if env is None else env,
                          capture_output=True, text=True, timeout=timeout)


def run_tool(*args: str) -> str:
    """Run ``python ARGS`` in the repository root; assert it succeeds; return its output."""
    result = run_python(*args, timeout=900)
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


def write_scalars(work_dir, timestamp: str, records: List[dict]) -> str:
    """Write ``records`` as MMEngine's ``WORK_DIR/TIMESTAMP/vis_data/scalars.json`` (one JSON
    object per line); return its path."""
    path = osp.join(str(work_dir), timestamp, 'vis_data', 'scalars.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(json.dumps(record) + '\n' for record in records))
    return path


PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def png_size(path) -> tuple:
    """(width, height) of a PNG file, asserting that it is one."""
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == PNG_MAGIC
    return struct.unpack('>II', head[16:24])


def records_with(work_dir: str, key: str) -> List[dict]:
    """The records of a work dir's scalars.json files that hold ``key``, in logging order
    (``'loss'``: training records; a metric: evaluations)."""
    return [record for record in read_scalars(work_dir) if key in record]


def free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])
