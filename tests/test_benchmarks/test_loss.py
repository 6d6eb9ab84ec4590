"""tools/benchmarks/loss.py runs as a user runs it: the CPU path's table with ratios to
MMDetection's focal loss, the fused kernel added under the interpreter, and without a GPU its
default (CUDA) mode says so."""
import pytest
import torch

from tests.run_utils import ENV, run_python
from tests.test_ops.helpers import needs_kernels

SCRIPT = 'tools/benchmarks/loss.py'
CPU_ROWS = ['mmdet py focal', 'BCE', 'official', 'ref, index', 'ref, multi-hot']


def table(stdout):
    """The op-time table's header and rows, as lists of stripped cells."""
    lines = [line for line in stdout.splitlines() if line.startswith('| ')]
    return [[cell.strip() for cell in line.strip('|').split('|')] for line in lines]


def test_cpu_path_table_with_ratios_to_mmdet_focal():
    env = {k: v for k, v in ENV.items() if k != 'TRITON_INTERPRET'}
    result = run_python(SCRIPT, '--device', 'cpu', '--shapes', '40x3:fp32,7x3:bf16', '--iters',
                        '2', '--warmup', '1', env=env)
    assert result.returncode == 0, result.stderr
    assert 'ratio to mmdet py focal' in result.stdout
    header, *rows = table(result.stdout)
    assert header == ['N x C, dtype'] + CPU_ROWS
    assert [row[0] for row in rows] == ['40x3:fp32', '7x3:bf16']
    for row in rows:
        assert row[1].endswith('(1.00x)')
        for cell in row[2:]:
            ms, ratio = cell.split(' ')
            assert float(ms) > 0 and float(ratio.strip('()x')) > 0
    assert 'skipped' not in result.stderr, result.stderr


@needs_kernels
def test_cpu_path_with_the_interpreted_kernel():
    result = run_python(SCRIPT, '--device', 'cpu', '--shapes', '16x5:fp32,3x4:bf16', '--iters',
                        '1', '--warmup', '0', env=dict(ENV, TRITON_INTERPRET='1'))
    assert result.returncode == 0, result.stderr
    assert 'Triton interpreter' in result.stdout
    assert table(result.stdout)[0] == ['N x C, dtype'] + CPU_ROWS + ['fused']
    assert 'skipped' not in result.stderr, result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='the full benchmark runs by hand on a GPU')
def test_without_cuda_it_says_so_and_succeeds():
    result = run_python(SCRIPT)
    assert result.returncode == 0, result.stderr
    assert 'CUDA required' in result.stdout


@pytest.mark.parametrize('argv, message', [
    (['--iters', '0'], '--iters must be >= 1'),
    (['--warmup', '-1'], '--warmup >= 0'),
])
def test_bad_arguments(argv, message):
    result = run_python(SCRIPT, '--device', 'cpu', *argv)
    assert result.returncode == 2 and message in result.stderr
