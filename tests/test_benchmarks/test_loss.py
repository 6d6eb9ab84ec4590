"""tools/benchmarks/loss.py runs as a user runs it: the CPU path's table with ratios to
MMDetection's focal loss, the focal table (FusedFocalLoss beside MMDetection's FocalLoss, issue
27), the fused kernel added under the interpreter, and without a GPU its default (CUDA) mode
says so."""
import pytest
import torch

from tests.run_utils import ENV, run_python
from tests.test_ops.helpers import needs_kernels

SCRIPT = 'tools/benchmarks/loss.py'
CPU_ROWS = ['mmdet py focal', 'BCE', 'official', 'ref, index', 'ref, multi-hot', 'FocalLoss',
            'FusedFocalLoss']


def tables(stdout):
    """Each table's header and rows, as lists of stripped cells."""
    found, rows = [], []
    for line in stdout.splitlines() + ['']:
        if line.startswith('| '):
            rows.append([cell.strip() for cell in line.strip('|').split('|')])
        elif rows and not line.startswith('|-'):
            found.append(rows)
            rows = []
    return found


def table(stdout):
    """The op-time table's header and rows."""
    return tables(stdout)[0]


def assert_timed_with_ratios(rows, keys):
    """Every row: its shape, the baseline at 1.00x, then positive times and ratios."""
    assert [row[0] for row in rows] == keys
    for row in rows:
        assert row[1].endswith('(1.00x)')
        for cell in row[2:]:
            ms, ratio = cell.split(' ')
            assert float(ms) > 0 and float(ratio.strip('()x')) > 0


def test_cpu_path_table_with_ratios_to_mmdet_focal():
    env = {k: v for k, v in ENV.items() if k != 'TRITON_INTERPRET'}
    result = run_python(SCRIPT, '--device', 'cpu', '--shapes', '40x3:fp32,7x3:bf16', '--iters',
                        '2', '--warmup', '1', env=env)
    assert result.returncode == 0, result.stderr
    assert 'ratio to mmdet py focal' in result.stdout
    (header, *rows), (focal_header, *focal_rows) = tables(result.stdout)
    assert header == ['N x C, dtype'] + CPU_ROWS
    assert_timed_with_ratios(rows, ['40x3:fp32', '7x3:bf16'])
    assert "FusedFocalLoss vs MMDetection's FocalLoss (FocalLoss)" in result.stdout
    assert focal_header == ['N x C, dtype', 'FocalLoss', 'FusedFocalLoss']
    assert_timed_with_ratios(focal_rows, ['40x3:fp32', '7x3:bf16'])
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
