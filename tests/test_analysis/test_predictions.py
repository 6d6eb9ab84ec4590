"""asl_mmdet.analysis.predictions: evaluators set to keep what they score, and the scorers
read back from a work dir."""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.evaluation import Accuracy, AveragePrecision

from asl_mmdet.analysis.predictions import keep_predictions, load_scorer, predictions_file
from asl_mmdet.demo import demo_config
from tests.run_utils import ROOT


def test_detection_evaluator_keeps_coco_results(tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'atss_r50_focal.py'))
    path = keep_predictions(cfg, str(tmp_path / 'predictions'))
    assert path == str(tmp_path / 'predictions' / 'val.bbox.json')
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.val_evaluator.outfile_prefix == str(tmp_path / 'predictions' / 'val')
    assert 'outfile_prefix' not in cfg.test_evaluator
    keep_predictions(cfg, 'rel', evaluator='test_evaluator', name='test')
    assert cfg.test_evaluator.outfile_prefix == osp.abspath(osp.join('rel', 'test'))
    cfg.val_evaluator = dict(type='VOCMetric')
    with pytest.raises(ValueError, match="val_evaluator has no CocoMetric: got \\['VOCMetric'\\]"):
        keep_predictions(cfg, 'x')


def test_classification_scorer_reads_dump_results(tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'resnet50_coco-ml_asl.py'))
    path = keep_predictions(cfg, str(tmp_path / 'predictions'))
    before = [m['type'] for m in Config.fromfile(
        osp.join(ROOT, 'configs', 'resnet50_coco-ml_asl.py')).val_evaluator]
    assert [m['type'] for m in cfg.val_evaluator] == before + ['DumpResults']
    assert cfg.val_evaluator[-1]['out_file_path'] == path
    keep_predictions(cfg, str(tmp_path / 'predictions'))  # once only
    assert [m['type'] for m in cfg.val_evaluator].count('DumpResults') == 1
    # what MMEngine's DumpResults writes for mmpretrain's data samples
    rng = np.random.default_rng(0)
    scores = torch.rand(20, 5)
    labels = [torch.as_tensor(rng.choice(5, rng.integers(1, 3), replace=False))
              for _ in range(20)]
    samples = [dict(pred_score=s, gt_label=g, img_path=f'val/{i:03d}.png', sample_idx=i)
               for i, (s, g) in enumerate(zip(scores, labels))]
    os.makedirs(osp.dirname(path))
    with open(path, 'wb') as f:
        pickle.dump(samples, f)
    vis = tmp_path / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    cfg.dump(str(vis / 'config.py'))
    scorer = load_scorer(str(tmp_path))
    onehot = torch.zeros(20, 5)
    for row, label in zip(onehot, labels):
        row[label] = 1
    assert scorer.full()['mAP'] == pytest.approx(
        AveragePrecision.calculate(scores, onehot).item(), abs=1e-4)
    assert scorer.image_keys == [f'val/{i:03d}.png' for i in range(20)]

    # UnknownLabelsToScore's gt_score: its -1 entries are left out, as AveragePrecision does
    with_unknown = onehot.clone()
    with_unknown[::3, 2] = -1
    with_unknown[1::4, 0] = -1
    for sample, score in zip(samples, with_unknown):
        sample['gt_score'] = score
    with open(path, 'wb') as f:
        pickle.dump(samples, f)
    expected = AveragePrecision.calculate(scores, with_unknown).item()
    assert expected != pytest.approx(AveragePrecision.calculate(scores, onehot).item(), abs=1e-3)
    assert load_scorer(str(tmp_path)).full()['mAP'] == pytest.approx(expected, abs=1e-4)


def test_single_label_scorer_reads_dump_results(tmp_path):
    # the single-label demo config: Accuracy(topk=(1, 5)) and the kept predictions
    work_dir = str(tmp_path)
    cfg = demo_config(osp.join(ROOT, 'configs', 'resnet50_cub_asl-single-label.py'), 'data',
                      work_dir, 2)
    path = osp.join(work_dir, 'predictions', 'val.pkl')
    assert [m['type'] for m in cfg.val_evaluator] == ['Accuracy', 'DumpResults']
    assert cfg.val_evaluator[-1]['out_file_path'] == path
    # what MMEngine's DumpResults writes for mmpretrain's single-label data samples
    rng = np.random.default_rng(0)
    scores = torch.softmax(torch.randn(30, 24), dim=1)
    labels = torch.as_tensor(rng.integers(0, 24, 30))
    samples = [dict(pred_score=s, pred_label=s.argmax(keepdim=True), gt_label=g.reshape(1),
                    img_path=f'val/{i:03d}.png', sample_idx=i)
               for i, (s, g) in enumerate(zip(scores, labels))]
    os.makedirs(osp.dirname(path))
    with open(path, 'wb') as f:
        pickle.dump(samples[::-1], f)  # any order: the scorer sorts by image
    vis = tmp_path / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    cfg.dump(str(vis / 'config.py'))
    assert predictions_file(work_dir) == dict(kind='single-label', path=path, topk=(1, 5))
    scorer = load_scorer(work_dir)
    assert scorer.kind == 'single-label'
    assert scorer.image_keys == [f'val/{i:03d}.png' for i in range(30)]
    (top1, ), (top5, ) = Accuracy.calculate(scores, labels, topk=(1, 5))  # (topk, thrs)
    assert scorer.full() == pytest.approx(dict(top1=top1.item(), top5=top5.item()), abs=1e-4)


def test_a_work_dir_without_kept_predictions_has_no_scorer(tmp_path):
    assert load_scorer(str(tmp_path)) is None  # no config at all
    vis = tmp_path / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'config.py').write_text("val_evaluator = dict(type='CocoMetric', ann_file='a')\n")
    assert load_scorer(str(tmp_path)) is None
    (vis / 'config.py').write_text(
        "val_evaluator = dict(type='CocoMetric', ann_file='a', outfile_prefix='/nowhere/val')\n")
    with pytest.raises(FileNotFoundError, match="predictions file '/nowhere/val.bbox.json'"):
        load_scorer(str(tmp_path))
