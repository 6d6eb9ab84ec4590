"""The multi-label classification configs train on generated data on the CPU with tools/train.py
and evaluate mAP and the F1 metrics; tools/compare.py tabulates them."""
import os
import os.path as osp

import pytest

from asl_mmdet.analysis.predictions import load_scorer
from asl_mmdet.demo import demo_config
from asl_mmdet.datasets.synthetic_coco import export_voc
from asl_mmdet.datasets.synthetic_coco import generate_coco_detection
from tests.run_utils import ROOT, records_with, run_tool

pytestmark = pytest.mark.slow

CONFIGS = ['resnet50_coco-ml_asl', 'resnet50_coco-ml_bce', 'resnet50_coco-ml_focal',
           'resnet50_voc07_asl', 'resnet50_voc07_bce', 'resnet50_coco-ml_asl_adaptive',
           'resnet50_coco-ml_asl_as_bce']
GAP_KEYS = ('asl_p_pos', 'asl_p_neg', 'asl_delta_p', 'asl_gamma_neg')
METRICS = ['mAP', 'precision', 'recall', 'f1-score', 'precision_micro', 'recall_micro',
           'f1-score_micro', 'f1-score_top3', 'f1-score_top3_micro']


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('asl_demo_cls'))
    generate_coco_detection(root, 'train', 6, seed=0, image_size=64, unlabelled_fraction=0.2)
    generate_coco_detection(root, 'val', 4, seed=1, image_size=64)
    export_voc(root, osp.join(root, 'voc'))
    return root


def train_records(work_dir):
    return records_with(work_dir, 'loss')


def val_records(work_dir):
    return records_with(work_dir, 'multi-label/mAP')


@pytest.mark.parametrize('name', CONFIGS)
def test_train_two_iterations(name, data_root, tmp_path):
    work_dir = str(tmp_path / name)
    cfg = demo_config(osp.join(ROOT, 'configs', f'{name}.py'), data_root, work_dir, 2,
                          image_size=64, batch_size=2, num_workers=0)
    cfg.default_hooks.logger.interval = 1  # and the probability log with it
    for hook in cfg.custom_hooks:
        if hook['type'] == 'ASLProbabilityHook':
            hook['interval'] = 1
    cfg_path = osp.join(work_dir, f'{name}_test.py')
    os.makedirs(work_dir)
    cfg.dump(cfg_path)
    run_tool('tools/train.py', cfg_path)
    (record, ) = val_records(work_dir)
    for metric in METRICS:
        value = record[f'multi-label/{metric}']
        assert 0 <= value <= 100, (metric, value)
    assert record['multi-label/mAP'] > 0
    assert osp.exists(osp.join(work_dir, 'iter_2.pth'))
    # the probability gap is logged for ASL and the baselines alike (Eq. 9-10)
    first, second = train_records(work_dir)
    for rec in (first, second):
        assert 0 < rec['asl_p_pos'] < 1 and 0 < rec['asl_p_neg'] < 1
        assert rec['asl_delta_p'] == pytest.approx(rec['asl_p_pos'] - rec['asl_p_neg'],
                                                   abs=1e-6)
    if name.endswith('adaptive'):  # gamma_neg <- max(0, gamma_neg + step (target - gap))
        hook = next(h for h in cfg.custom_hooks if h['type'] == 'AdaptiveAsymmetryHook')
        assert first['asl_gamma_neg'] == 4.0
        expected = max(0.0, 4.0 + hook['step'] * (hook['target_gap'] - first['asl_delta_p']))
        assert second['asl_gamma_neg'] == pytest.approx(expected, rel=1e-6)
    else:
        loss = cfg.model.head.loss
        gamma = 0.0 if loss.type == 'CrossEntropyLoss' else loss.get('gamma_neg', loss.get(
            'gamma'))
        assert first['asl_gamma_neg'] == second['asl_gamma_neg'] == gamma


def test_compare_classification_table(data_root, tmp_path):
    work_dirs = []
    for name in ('resnet50_coco-ml_bce', 'resnet50_coco-ml_asl'):
        work_dir = str(tmp_path / name)
        cfg = demo_config(osp.join(ROOT, 'configs', f'{name}.py'), data_root, work_dir, 1,
                              image_size=64, batch_size=2, num_workers=0)
        os.makedirs(work_dir)
        cfg.dump(osp.join(work_dir, 'cfg.py'))
        run_tool('tools/train.py', osp.join(work_dir, 'cfg.py'))
        work_dirs.append(work_dir)
    out = str(tmp_path / 'compare.png')
    table = run_tool('tools/compare.py', *work_dirs, '--out', out).splitlines()
    header = [c.strip() for c in table[0].strip('|').split('|')]
    assert header[:8] == ['run', 'mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1']
    for work_dir, line in zip(work_dirs, table[2:4]):
        cells = [c.strip() for c in line.strip('|').split('|')]
        record = val_records(work_dir)[-1]
        assert cells[0] == osp.basename(work_dir)
        assert float(cells[1]) == pytest.approx(record['multi-label/mAP'], abs=1e-3)
        assert float(cells[7]) == pytest.approx(record['multi-label/f1-score_micro'], abs=1e-3)
        # the kept predictions give back mmpretrain's mAP
        assert load_scorer(work_dir).full()['mAP'] == pytest.approx(record['multi-label/mAP'],
                                                                    abs=1e-3)
    assert any(line.startswith('| resnet50_coco-ml_asl | mAP ') for line in table)
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
