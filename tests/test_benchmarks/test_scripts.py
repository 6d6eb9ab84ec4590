"""tools/benchmarks/kernel_report.py and tools/benchmarks/gpu_check.py run (the compiled
facts themselves are tested in tests/test_ops/test_kernel_compile.py)."""
import pytest
import torch

from asl_mmdet.ops.compile_report import has_nvidia_backend
from tests.run_utils import run_python


def run_script(name, *args):
    return run_python(f'tools/benchmarks/{name}', *args)


@pytest.mark.skipif(not has_nvidia_backend()[0], reason=has_nvidia_backend()[1] or 'no backend')
def test_kernel_report_prints_the_table_and_the_model():
    result = run_script('kernel_report.py', '--targets', '90', '--variants',
                        'detection, index, fp32', '--check')
    assert result.returncode == 0, result.stderr
    rows = [[cell.strip() for cell in line.strip('|').split('|')]
            for line in result.stdout.splitlines() if line.startswith('| ')]
    assert rows[0][:5] == ['sm', 'variant', 'kernel', 'regs', 'spill B']
    assert rows[1][:3] == ['90', 'detection, index, fp32', 'asl_forward_kernel']
    assert 'a model, not a measurement' in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='runs the whole GPU check on CUDA')
def test_gpu_check_without_cuda_says_so():
    result = run_script('gpu_check.py')
    assert result.returncode == 2
    assert 'needs a CUDA device' in result.stderr


def test_bootstrap_benchmark_prints_one_row_per_task_and_set():
    result = run_script('bootstrap.py', '--images', '6', '9', '--resamples', '20',
                        '--dets-per-image', '5', '--classes', '3')
    assert result.returncode == 0, result.stderr
    rows = [[cell.strip() for cell in line.strip('|').split('|')]
            for line in result.stdout.splitlines() if line.startswith('| ')]
    assert rows[0] == ['task', 'images', 'detections', 'matching, 2 runs (s)',
                       'bootstrap, 2 runs (s)']
    assert [row[:2] for row in rows[1:]] == [['detection', '6'], ['classification', '6'],
                                             ['detection', '9'], ['classification', '9']]
    assert all(float(row[4]) >= 0 for row in rows[1:])
