"""tools/benchmark_loss.py runs: its CPU smoke mode (and, without a GPU, its default mode);
tools/benchmark_loss_cpu.py prints its table."""
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'tools', 'benchmark_loss.py')


def run_script(*args, script=SCRIPT):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, env.get('PYTHONPATH')) if p)
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                          env=env, timeout=600)


def test_cpu_smoke_run_prints_the_tables():
    result = run_script('--device', 'cpu', '--iters', '1', '--warmup', '0', '--shapes',
                        '16x5:fp32,3x4:bf16')
    assert result.returncode == 0, result.stderr
    for header in ('Op time', 'Kernel time', 'Peak extra memory',
                   '| N x C, dtype | fused | ref | official | copy floor |', '| 16x5:fp32 | ',
                   '| 3x4:bf16 | '):
        assert header in result.stdout, result.stdout
    assert 'skipped' not in result.stderr, result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='the full benchmark runs by hand on a GPU')
def test_without_cuda_it_says_so_and_succeeds():
    result = run_script()
    assert result.returncode == 0, result.stderr
    assert 'CUDA required' in result.stdout


def test_cpu_benchmark_prints_ratios_to_mmdet_focal():
    result = run_script('--shape', '40x3', '--iters', '1',
                        script=os.path.join(ROOT, 'tools', 'benchmark_loss_cpu.py'))
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith('| ')][1:]
    assert [row.split(' | ')[0] for row in rows] == [
        '| BCE with logits', '| mmdet py_sigmoid_focal_loss', '| official ASL formula, eager',
        '| asl_mmdet, class-index targets', '| asl_mmdet, multi-hot targets']
    assert rows[1].endswith('| 1.00x |')
