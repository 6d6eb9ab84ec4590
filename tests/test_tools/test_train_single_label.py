"""The single-label classification configs (CUB-200 recipe, label-smoothed CE and ASL) train on
the generated objects' crops on the CPU with tools/train.py and evaluate top-1 and top-5
accuracy; tools/compare.py tabulates them with the paired bootstrap of top-1."""
import os.path as osp

import pytest

from asl_mmdet.analysis.predictions import load_scorer
from asl_mmdet.datasets.synthetic_coco import (SINGLE_LABEL_DIR, export_single_label,
                                               generate_coco_detection)
from asl_mmdet.demo import demo_config
from tests.run_utils import ROOT, records_with, run_tool

pytestmark = pytest.mark.slow

# the baseline first, then its calibration
CONFIGS = ['resnet50_cub_ce-ls', 'resnet50_cub_asl-single-label_as_ce-ls',
           'resnet50_cub_asl-single-label']
LOSSES = {'resnet50_cub_ce-ls': 'mmpretrain.models.losses.label_smooth_loss',
          'resnet50_cub_asl-single-label_as_ce-ls':
          'asl_mmdet.models.losses.asymmetric_loss_single_label',
          'resnet50_cub_asl-single-label':
          'asl_mmdet.models.losses.asymmetric_loss_single_label'}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('asl_demo_single'))
    generate_coco_detection(root, 'train', 4, seed=0, image_size=96, unlabelled_fraction=0.2)
    generate_coco_detection(root, 'val', 3, seed=1, image_size=96)
    export_single_label(root, osp.join(root, SINGLE_LABEL_DIR))
    return root


@pytest.fixture(scope='module')
def work_dirs(data_root, tmp_path_factory):
    """Each config trained 2 iterations (ResNet-50 as configured, 32x32 crops), evaluated at
    the end; {name: (config, work dir)}."""
    runs = {}
    for name in CONFIGS:
        work_dir = str(tmp_path_factory.mktemp(name))
        cfg = demo_config(osp.join(ROOT, 'configs', f'{name}.py'), data_root, work_dir, 2,
                          image_size=32, batch_size=2, num_workers=0)
        cfg.default_hooks.logger.interval = 1
        cfg_path = osp.join(work_dir, f'{name}_test.py')
        cfg.dump(cfg_path)
        run_tool('tools/train.py', cfg_path)
        runs[name] = (cfg, work_dir)
    return runs


@pytest.mark.parametrize('name', CONFIGS)
def test_train_two_iterations(name, work_dirs):
    cfg, work_dir = work_dirs[name]
    assert cfg.train_dataloader.dataset.type == 'CustomDataset'
    assert cfg.model.head.num_classes == 24
    assert not any(hook['type'] == 'ASLProbabilityHook' for hook in cfg.get('custom_hooks', []))
    (record, ) = records_with(work_dir, 'accuracy/top1')
    assert 0 <= record['accuracy/top1'] <= record['accuracy/top5'] <= 100
    assert len(records_with(work_dir, 'loss')) == 2
    assert osp.exists(osp.join(work_dir, 'iter_2.pth'))
    # the kept predictions give back mmpretrain's accuracy
    scorer = load_scorer(work_dir)
    assert scorer.kind == 'single-label'
    assert scorer.full() == pytest.approx(dict(top1=record['accuracy/top1'],
                                               top5=record['accuracy/top5']), abs=1e-3)
    with open(osp.join(cfg.val_dataloader.dataset.data_root, 'val.txt')) as f:
        assert len(scorer.image_keys) == len(f.read().splitlines())


def test_configs_build_their_losses(work_dirs):
    from mmpretrain.registry import MODELS

    for name, (cfg, _) in work_dirs.items():
        head = MODELS.build(cfg.model).head
        assert type(head.loss_module).__module__ == LOSSES[name], name
        assert getattr(head.loss_module, 'num_classes', 24) == 24


def test_compare_single_label_table(work_dirs, tmp_path):
    dirs = [work_dirs[name][1] for name in CONFIGS]
    out = str(tmp_path / 'compare.png')
    table = run_tool('tools/compare.py', *dirs, '--names', *CONFIGS, '--out', out,
                     '--resamples', '200').splitlines()
    header = [c.strip() for c in table[0].strip('|').split('|')]
    assert header[:3] == ['run', 'top1', 'top5']
    assert len(table) > 2 + len(CONFIGS)
    for name, line in zip(CONFIGS, table[2:2 + len(CONFIGS)]):
        cells = [c.strip() for c in line.strip('|').split('|')]
        record = records_with(work_dirs[name][1], 'accuracy/top1')[-1]
        assert cells[0] == name
        assert float(cells[1]) == pytest.approx(record['accuracy/top1'], abs=1e-3)
        assert float(cells[2]) == pytest.approx(record['accuracy/top5'], abs=1e-3)
    rows = [[c.strip() for c in line.strip('|').split('|')] for line in table
            if line.startswith('|')]
    for name in CONFIGS[1:]:
        assert any(row[:2] == [name, 'top1'] for row in rows), name
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
