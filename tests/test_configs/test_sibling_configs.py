"""Each ASL config differs from its baseline siblings in the classification loss alone:
model.bbox_head.loss_cls for detection (focal loss), model.head.loss for multi-label
classification (BCE, focal loss) and for single-label classification (label-smoothed
cross-entropy)."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import asl_mmdet  # noqa: F401  (registers ASLoss)
from mmdet.registry import MODELS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from tests.test_configs import flatten

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
DETECTORS = ['atss', 'retinanet', 'fcos', 'dino-4scale']
CLASSIFIERS = [('resnet50_coco-ml_asl', 'resnet50_coco-ml_bce', 'CrossEntropyLoss'),
               ('resnet50_coco-ml_asl', 'resnet50_coco-ml_focal', 'FocalLoss'),
               ('resnet50_voc07_asl', 'resnet50_voc07_bce', 'CrossEntropyLoss')]


def differing_parents(config_a, config_b):
    """The parents of the leaves that differ between two resolved configs."""
    flat_a = flatten(Config.fromfile(osp.join(CONFIGS, f'{config_a}.py')).to_dict())
    flat_b = flatten(Config.fromfile(osp.join(CONFIGS, f'{config_b}.py')).to_dict())
    differing = {key for key in flat_a.keys() | flat_b.keys()
                 if flat_a.get(key, object()) != flat_b.get(key, object())}
    assert differing, 'the siblings are identical'
    return {key.rsplit('.', 1)[0] for key in differing}


@pytest.mark.parametrize('detector', DETECTORS)
def test_only_loss_cls_differs(detector):
    asl = Config.fromfile(osp.join(CONFIGS, f'{detector}_r50_asl.py')).to_dict()
    focal = Config.fromfile(osp.join(CONFIGS, f'{detector}_r50_focal.py')).to_dict()
    assert differing_parents(f'{detector}_r50_asl', f'{detector}_r50_focal') == {
        'model.bbox_head.loss_cls'}
    assert focal['model']['bbox_head']['loss_cls']['type'] == 'FocalLoss'
    loss_cfg = asl['model']['bbox_head']['loss_cls']
    assert loss_cfg['type'] == 'ASLoss' and 'gamma' not in loss_cfg  # _delete_ worked
    assert asl['custom_imports'] == dict(imports=['asl_mmdet'], allow_failed_imports=False)
    loss = MODELS.build(loss_cfg)
    assert type(loss).__module__ == 'asl_mmdet.models.losses.asymmetric_loss'


def test_dino_builds_asl_head_and_keeps_focal_matching_cost():
    """DINO's Hungarian matcher scores queries with its own FocalLossCost, which the ASL sibling
    keeps: both siblings match queries alike and differ in the loss of the matched ones."""
    asl = Config.fromfile(osp.join(CONFIGS, 'dino-4scale_r50_asl.py'))
    costs = [cost.type for cost in asl.model.train_cfg.assigner.match_costs]
    assert costs == ['FocalLossCost', 'BBoxL1Cost', 'IoUCost']
    asl.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(asl.model)
    assert type(model.bbox_head).__name__ == 'DINOHead'
    assert type(model.bbox_head.loss_cls).__module__ == 'asl_mmdet.models.losses.asymmetric_loss'
    assert model.bbox_head.cls_out_channels == 80  # sigmoid: no background column


@pytest.mark.parametrize('asl_name, baseline_name, baseline_type', CLASSIFIERS)
def test_only_head_loss_differs(asl_name, baseline_name, baseline_type):
    assert differing_parents(asl_name, baseline_name) == {'model.head.loss'}
    asl = Config.fromfile(osp.join(CONFIGS, f'{asl_name}.py'))
    baseline = Config.fromfile(osp.join(CONFIGS, f'{baseline_name}.py'))
    assert baseline.model.head.loss.type == baseline_type
    loss_cfg = asl.model.head.loss
    # the paper's classification setting, official gradient convention
    assert (loss_cfg.type, loss_cfg.gamma_neg, loss_cfg.gamma_pos, loss_cfg.clip,
            loss_cfg.detach_focal_weight) == ('ASLoss', 4.0, 0.0, 0.05, True)
    assert asl.default_scope == 'mmpretrain'
    assert asl.custom_imports == dict(imports=['asl_mmdet'], allow_failed_imports=False)
    loss = MMPRETRAIN_MODELS.build(loss_cfg)
    assert type(loss).__module__ == 'asl_mmdet.models.losses.asymmetric_loss'


def test_single_label_cub_configs_build_and_differ_only_in_the_loss():
    assert differing_parents('resnet50_cub_asl-single-label',
                             'resnet50_cub_ce-ls') == {'model.head.loss'}
    asl = Config.fromfile(osp.join(CONFIGS, 'resnet50_cub_asl-single-label.py'))
    baseline = Config.fromfile(osp.join(CONFIGS, 'resnet50_cub_ce-ls.py'))
    assert asl.default_scope == baseline.default_scope == 'mmpretrain'
    assert asl.custom_imports == dict(imports=['asl_mmdet'], allow_failed_imports=False)
    assert asl.model.head.type == 'LinearClsHead' and asl.model.head.num_classes == 200
    assert (asl.model.head.loss.type, asl.model.head.loss.gamma_pos,
            asl.model.head.loss.gamma_neg, asl.model.head.loss.label_smoothing) == (
                'ASLSingleLabelLoss', 0.0, 4.0, 0.1)
    assert 'use_sigmoid' not in asl.model.head.loss  # _delete_ worked
    for cfg, module in ((asl, 'asl_mmdet.models.losses.asymmetric_loss_single_label'),
                        (baseline, 'mmpretrain.models.losses.label_smooth_loss')):
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MMPRETRAIN_MODELS.build(cfg.model)
        assert type(model.head.loss_module).__module__ == module
