"""asl_mmdet.demo: which overrides a config gets, the single-label demo's settings, and the
demos' defaults (several seeds, a calibration config in each)."""
import os.path as osp

import pytest
from mmengine.config import Config

from asl_mmdet.datasets.synthetic_coco import CLASSES
from asl_mmdet.demo import DEMO_TASKS, demo_config, is_single_label
from tests.run_utils import ROOT


def config(name):
    return osp.join(ROOT, 'configs', f'{name}.py')


@pytest.mark.parametrize('name,single', [
    ('resnet50_cub_ce-ls', True), ('resnet50_cub_asl-single-label', True),
    ('resnet50_coco-ml_asl', False), ('resnet50_voc07_bce', False), ('atss_r50_asl', False)])
def test_single_label_configs_are_detected(name, single):
    assert is_single_label(Config.fromfile(config(name))) is single


@pytest.mark.parametrize('name', ['resnet50_cub_ce-ls', 'resnet50_cub_asl-single-label'])
def test_single_label_overrides(name, tmp_path):
    cfg = demo_config(config(name), 'data/asl_demo', str(tmp_path), 100, depth=18)
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        dataset = loader.dataset
        assert (dataset.type, dataset.ann_file, dataset.data_prefix) == (
            'CustomDataset', f'{split}.txt', split)
        assert dataset.data_root == osp.join('data/asl_demo', 'single_label')
        assert 'split' not in dataset and dataset.metainfo.classes == CLASSES
    # the recipe's Resize 600 then 448 crop, scaled to 64 px crops
    assert [(t['type'], t.get('scale', t.get('crop_size')))
            for t in cfg.train_dataloader.dataset.pipeline[1:3]] == [('Resize', 86),
                                                                      ('RandomCrop', 64)]
    assert [(t['type'], t.get('scale', t.get('crop_size')))
            for t in cfg.val_dataloader.dataset.pipeline[1:3]] == [('Resize', 86),
                                                                    ('CenterCrop', 64)]
    head = cfg.model.head
    assert (head.num_classes, head.in_channels, cfg.model.backbone.depth) == (24, 512, 18)
    assert head.loss.get('num_classes', 24) == 24 and cfg.data_preprocessor.num_classes == 24
    assert cfg.model.backbone.init_cfg is None  # nothing is downloaded
    assert cfg.optim_wrapper.optimizer.type == 'SGD' and cfg.optim_wrapper.optimizer.lr == 0.05
    assert [(s.type, s.begin, s.end) for s in cfg.param_scheduler] == [
        ('LinearLR', 0, 20), ('CosineAnnealingLR', 20, 100)]
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=100, val_interval=100)
    assert [m['type'] for m in cfg.val_evaluator] == ['Accuracy', 'DumpResults']
    assert tuple(cfg.val_evaluator[0]['topk']) == (1, 5)
    assert 'ASLProbabilityHook' not in [h['type'] for h in cfg.get('custom_hooks', [])]


def test_every_demo_trains_several_seeds_and_the_sigmoid_demos_a_calibration():
    # one seed gets no verdict from tools/compare.py: every demo trains three, and the
    # baseline's loss computed by ASLoss (focal loss, BCE) is the noise floor
    assert {name: task.seeds for name, task in DEMO_TASKS.items()} == dict(det=3, cls=3,
                                                                          single=3)
    det = DEMO_TASKS['det']
    assert det.configs == ('atss_r50_focal', 'atss_r50_asl_as_focal', 'atss_r50_asl')
    assert det.calibration == 'atss_r50_asl_as_focal'
    loss = Config.fromfile(config(det.calibration)).model.bbox_head.loss_cls
    assert (loss.type, loss.gamma_pos, loss.gamma_neg, loss.clip, loss.alpha) == (
        'ASLoss', 2.0, 2.0, 0.0, 0.25)  # focal loss (MMDetection's: gamma 2, alpha 0.25)
    cls = DEMO_TASKS['cls']
    assert cls.configs == ('resnet50_coco-ml_bce', 'resnet50_coco-ml_asl_as_bce',
                           'resnet50_coco-ml_focal', 'resnet50_coco-ml_asl')
    assert cls.calibration == 'resnet50_coco-ml_asl_as_bce'
    loss = Config.fromfile(config(cls.calibration)).model.head.loss
    assert (loss.type, loss.gamma_pos, loss.gamma_neg, loss.clip) == (
        'ASLoss', 0.0, 0.0, 0.0)  # binary cross-entropy
    single = DEMO_TASKS['single']
    assert single.configs == ('resnet50_cub_ce-ls', 'resnet50_cub_asl-single-label_as_ce-ls',
                              'resnet50_cub_asl-single-label')
    assert single.calibration == 'resnet50_cub_asl-single-label_as_ce-ls'
    loss = Config.fromfile(config(single.calibration)).model.head.loss
    assert (loss.type, loss.gamma_pos, loss.gamma_neg, loss.label_smoothing) == (
        'ASLSingleLabelLoss', 0.0, 0.0, 0.1)  # label-smoothed cross-entropy
    for task in DEMO_TASKS.values():
        assert 1 <= task.validations <= task.iters
