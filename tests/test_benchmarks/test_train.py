"""The training-step benchmark (tools/benchmarks/train.py) runs on the CPU at tiny sizes so it
can't rot (the numbers come from the GPU machine: docs/advanced_guides/benchmarks.md)."""
import os.path as osp

import pytest

from asl_mmdet.benchmarks import train as benchmark_train
from tests.run_utils import ROOT, run_python

pytestmark = pytest.mark.slow


@pytest.mark.parametrize('configs, size, batch_sizes', [
    (['atss_r50_asl', 'atss_r50_focal'], (64, 96), [1]),
    (['resnet50_coco-ml_asl', 'resnet50_coco-ml_bce'], (64, 64), [1, 2]),
])
def test_table_on_cpu(configs, size, batch_sizes, capsys):
    paths = [osp.join(ROOT, 'configs', f'{name}.py') for name in configs]
    rows = benchmark_train.main([
        *paths, '--batch-size', *map(str, batch_sizes), '--image-size', *map(str, size),
        '--warmup', '1', '--iters', '1', '--repeats', '2', '--device', 'cpu'])
    out = capsys.readouterr().out.splitlines()
    out = out[out.index('device: CPU'):]  # after MMEngine's log lines
    assert len(out) == 4 + len(rows)
    assert [(r['config'], r['batch']) for r in rows] == [
        (name, batch) for batch in batch_sizes for name in configs]
    for index, row in enumerate(rows):
        first = rows[index - index % 2]
        assert row['median'] > 0 and row['size'] == f'{size[0]}x{size[1]}'
        assert row['time_ratio'] == pytest.approx(row['median'] / first['median'])
        assert row['memory'] is None
        cells = [c.strip() for c in out[4 + index].strip('|').split('|')]
        assert cells[:4] == [row['config'], str(row['batch']), 'no', row['size']]
        assert float(cells[6]) == pytest.approx(row['batch'] / row['median'], rel=0.01)
        assert float(cells[8]) == pytest.approx(row['time_ratio'], abs=1e-3)


def test_default_scale_is_the_configs():
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'resnet50_coco-ml_asl.py'))
    assert benchmark_train.config_scale(cfg) == (448, 448)


@pytest.mark.parametrize('argv, message', [
    (['--iters', '0'], '--iters must be >= 1, got 0'),
    (['--batch-size', '0'], '--batch-size must be >= 1, got 0'),
    (['--amp', '--device', 'cpu'], '--amp needs CUDA'),
])
def test_bad_arguments(argv, message):
    with pytest.raises(SystemExit, match=message):
        benchmark_train.main([osp.join(ROOT, 'configs', 'atss_r50_asl.py'), *argv])


def test_runs_as_a_script():
    result = run_python('tools/benchmarks/train.py', 'configs/resnet50_coco-ml_asl.py',
                        '--image-size', '32', '32', '--warmup', '0', '--iters', '1',
                        '--repeats', '1', '--device', 'cpu')
    assert result.returncode == 0, result.stderr[-3000:]
    assert '| resnet50_coco-ml_asl | 2 ' in result.stdout
