"""Each ASL config differs from its baseline siblings in the classification loss alone:
model.bbox_head.loss_cls for detection (focal loss), model.head.loss for multi-label
classification (BCE, focal loss) and for single-label classification (label-smoothed
cross-entropy); each fused-focal config from its focal config in the loss type alone."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import asl_mmdet  # noqa: F401  (registers ASLoss)
from asl_mmdet.demo import DEMO_TASKS
from mmdet.registry import MODELS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample

from tests.test_configs import flatten

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
DETECTORS = ['atss', 'retinanet', 'fcos', 'dino-4scale']
CLASSIFIERS = [('resnet50_coco-ml_asl', 'resnet50_coco-ml_bce', 'CrossEntropyLoss'),
               ('resnet50_coco-ml_asl', 'resnet50_coco-ml_focal', 'FocalLoss'),
               ('resnet50_voc07_asl', 'resnet50_voc07_bce', 'CrossEntropyLoss')]
# the demos' calibration runs (the baseline's loss computed by asl_mmdet) and their baselines
CALIBRATIONS = [(task.calibration, task.configs[0]) for task in DEMO_TASKS.values()]


def differing_leaves(config_a, config_b):
    """The leaves that differ between two resolved configs (present in one only, or not
    equal)."""
    flat_a = flatten(Config.fromfile(osp.join(CONFIGS, f'{config_a}.py')).to_dict())
    flat_b = flatten(Config.fromfile(osp.join(CONFIGS, f'{config_b}.py')).to_dict())
    differing = {key for key in flat_a.keys() | flat_b.keys()
                 if flat_a.get(key, object()) != flat_b.get(key, object())}
    assert differing, 'the siblings are identical'
    return differing


def differing_parents(config_a, config_b):
    """The parents of the leaves that differ between two resolved configs."""
    return {key.rsplit('.', 1)[0] for key in differing_leaves(config_a, config_b)}


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


@pytest.mark.parametrize('detector', ['atss', 'retinanet'])
def test_fused_focal_configs_change_the_loss_type_alone(detector):
    """Issue 27: MMDetection's config with type='FocalLoss' -> type='FusedFocalLoss' and
    nothing else (FocalLoss's arguments stay, and FusedFocalLoss takes them)."""
    name = f'{detector}_r50_fused-focal'
    assert differing_leaves(name, f'{detector}_r50_focal') == {'model.bbox_head.loss_cls.type'}
    loss_cfg = Config.fromfile(osp.join(CONFIGS, f'{name}.py')).model.bbox_head.loss_cls
    assert loss_cfg.type == 'FusedFocalLoss'
    loss = MODELS.build(loss_cfg)
    assert type(loss).__module__ == 'asl_mmdet.models.losses.fused_focal_loss'
    assert (loss.gamma, loss.alpha, loss.loss_weight) == (2.0, 0.25, 1.0)


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


@pytest.mark.parametrize('config, baseline', CALIBRATIONS)
def test_calibration_configs_differ_from_their_baseline_in_the_loss_alone(config, baseline):
    scope = Config.fromfile(osp.join(CONFIGS, f'{baseline}.py')).default_scope
    loss_key = 'model.head.loss' if scope == 'mmpretrain' else 'model.bbox_head.loss_cls'
    assert differing_parents(config, baseline) == {loss_key}


def head_losses(config, baseline, targets):
    """The head losses of two mmpretrain configs with the same weights on the same features."""
    heads = []
    for name in (baseline, config):
        cfg = Config.fromfile(osp.join(CONFIGS, f'{name}.py'))
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            heads.append(MMPRETRAIN_MODELS.build(cfg.model.head))
    heads[1].load_state_dict(heads[0].state_dict())
    generator = torch.Generator().manual_seed(0)
    feats = (torch.randn(len(targets), heads[0].in_channels, generator=generator) * 3, )
    losses = [head.loss(feats, [DataSample().set_gt_label(t) if t.dim() == 0 else
                                DataSample().set_gt_score(t) for t in targets])['loss']
              for head in heads]
    return losses, heads[0](feats).double(), type(heads[1].loss_module).__name__


def test_asl_as_bce_head_loss_equals_the_bce_head_loss():
    """The multi-label calibration: the head of resnet50_coco-ml_asl_as_bce.py computes the
    loss of resnet50_coco-ml_bce.py's head (mmpretrain's sigmoid CrossEntropyLoss, summed over
    the classes and divided by the batch size), up to the order of float operations."""
    scores = (torch.rand(8, 80, generator=torch.Generator().manual_seed(1)) < 0.05).float()
    (bce, asl), logits, loss_type = head_losses('resnet50_coco-ml_asl_as_bce',
                                                'resnet50_coco-ml_bce', scores)
    assert loss_type == 'ASLoss'
    # the float64 oracle: the sum over classes of -y log p - (1 - y) log(1 - p), over N = 8
    oracle = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, scores.double(), reduction='sum') / 8
    torch.testing.assert_close(asl.double(), oracle, rtol=1e-5, atol=0)
    torch.testing.assert_close(asl, bce, rtol=1e-5, atol=0)


def test_asl_single_label_as_ce_ls_head_loss_equals_the_ce_ls_head_loss():
    """The single-label calibration: resnet50_cub_asl-single-label_as_ce-ls.py's head computes
    resnet50_cub_ce-ls.py's label-smoothed cross-entropy (mmpretrain's LabelSmoothLoss,
    'original' mode: (1 - 0.1) one-hot + 0.1 / C), averaged over the batch."""
    labels = torch.randint(0, 200, (8, ), generator=torch.Generator().manual_seed(1))
    (ce_ls, asl), logits, loss_type = head_losses('resnet50_cub_asl-single-label_as_ce-ls',
                                                  'resnet50_cub_ce-ls', list(labels))
    assert loss_type == 'ASLSingleLabelLoss'
    smoothed = torch.nn.functional.one_hot(labels, 200).double() * 0.9 + 0.1 / 200
    oracle = -(smoothed * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(asl.double(), oracle, rtol=1e-5, atol=0)
    torch.testing.assert_close(asl, ce_ls, rtol=1e-5, atol=0)
