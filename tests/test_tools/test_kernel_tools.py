"""tools/benchmarks/kernel_report.py and tools/benchmarks/gpu_check.py run (the compiled
facts themselves are tested in tests/test_ops/test_kernel_compile.py)."""
import os
import subprocess
import sys

import pytest
import torch

from asl_mmdet.ops.compile_report import has_nvidia_backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, 'tools', 'benchmarks')


def run_script(name, *args):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, env.get('PYTHONPATH')) if p)
    return subprocess.run([sys.executable, os.path.join(TOOLS, name), *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(not has_nvidia_backend()[0], reason=has_nvidia_backend()[1] or 'no backend')
def test_kernel_report_prints_the_table_and_the_model():
    result = run_script('kernel_report.py', '--targets', '90', '--variants',
                        'detection, index, fp32', '--check')
    assert result.returncode == 0, result.stderr
    assert '| sm | variant | kernel | regs | spill B |' in result.stdout
    assert '| 90 | detection, index, fp32 | asl_forward_kernel |' in result.stdout
    assert 'a model, not a measurement' in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='runs the whole GPU check on CUDA')
def test_gpu_check_without_cuda_says_so():
    result = run_script('gpu_check.py')
    assert result.returncode == 2
    assert 'needs a CUDA device' in result.stderr
