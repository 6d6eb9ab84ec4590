"""ASLSingleLabelLoss as an mmpretrain (and MMDetection) module: registries and config
building, mmpretrain's LabelSmoothLoss and the official formula as oracles, LinearClsHead's loss
call with class indices and with mixup soft labels, and argument errors."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings
from mmdet.registry import MODELS as MMDET_MODELS
from mmpretrain.models.losses import LabelSmoothLoss
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from asl_mmdet import ASLSingleLabelLoss
from asl_mmdet.ops import asymmetric_loss_single_label
from tests.asl_oracle import asl_single_label_official

OUR_MODULE = 'asl_mmdet.models.losses.asymmetric_loss_single_label'
NUM_CLASSES = 11

# what a user adds to their own mmpretrain config (the README shows the same lines)
USER_CONFIG = """
_base_ = ['mmpretrain::_base_/models/resnet50.py']
custom_imports = dict(imports=['asl_mmdet'], allow_failed_imports=False)
model = dict(backbone=dict(depth=18), head=dict(
    num_classes=11, in_channels=512,
    loss=dict(_delete_=True, type='ASLSingleLabelLoss', gamma_pos=0.0, gamma_neg=4.0,
              label_smoothing=0.1, loss_weight=1.0)))
"""


@pytest.fixture
def head(tmp_path):
    path = tmp_path / 'user_cfg.py'
    path.write_text(USER_CONFIG)
    cfg = Config.fromfile(str(path))
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # leaves other tests' scope
        return MODELS.build(cfg.model).head


def test_config_builds_our_class_in_both_registries(head):
    assert type(head).__name__ == 'LinearClsHead'
    assert type(head.loss_module).__module__ == OUR_MODULE
    assert head.loss_module.gamma_neg == 4.0 and head.loss_module.label_smoothing == 0.1
    assert MODELS.get('ASLSingleLabelLoss') is ASLSingleLabelLoss
    assert MMDET_MODELS.get('ASLSingleLabelLoss') is ASLSingleLabelLoss
    # the name is ours alone: neither package registers it in its own registry
    assert 'ASLSingleLabelLoss' not in MMDET_MODELS.parent.module_dict
    assert all(not cls.__module__.startswith(('mmpretrain.', 'mmdet.'))
               for cls in (MODELS.module_dict['ASLSingleLabelLoss'],
                           MMDET_MODELS.module_dict['ASLSingleLabelLoss']))


def make_batch(num=6, seed=0, mixup=False):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(num, 512, generator=gen)
    labels = torch.randint(0, NUM_CLASSES, (num, ), generator=gen)
    samples = [DataSample().set_gt_label(label) for label in labels]
    if not mixup:
        return (feats, ), samples, labels
    lam = 0.7
    one_hot = torch.nn.functional.one_hot(labels, NUM_CLASSES).float()
    scores = lam * one_hot + (1 - lam) * one_hot.roll(1, 0)  # mmpretrain's Mixup
    for sample, score in zip(samples, scores):
        sample.set_gt_score(score)
    return (feats, ), samples, scores


@pytest.mark.parametrize('mixup', [False, True])
def test_linear_cls_head_loss(head, mixup):
    feats, samples, target = make_batch(mixup=mixup)
    losses = head.loss(feats, samples)
    cls_score = head(feats)
    expected = asl_single_label_official(
        cls_score, target if mixup else torch.nn.functional.one_hot(target, NUM_CLASSES),
        0.0, 4.0, 0.1).mean()
    torch.testing.assert_close(losses['loss'].double(), expected, rtol=1e-5, atol=1e-6)
    losses['loss'].backward()
    assert head.fc.weight.grad is not None and torch.isfinite(head.fc.weight.grad).all()


@pytest.mark.parametrize('label_smoothing', [0.0, 0.1])
@pytest.mark.parametrize('mixup', [False, True])
@pytest.mark.parametrize('use_weight', [False, True])
def test_zero_gammas_are_mmpretrain_label_smooth_loss(label_smoothing, mixup, use_weight):
    gen = torch.Generator().manual_seed(3)
    cls_score = torch.randn(6, NUM_CLASSES, generator=gen, dtype=torch.float64) * 3
    _, _, target = make_batch(mixup=mixup)  # LabelSmoothLoss makes its labels float32
    weight = torch.rand(6, generator=gen, dtype=torch.float64) if use_weight else None
    ours = ASLSingleLabelLoss(gamma_pos=0.0, gamma_neg=0.0, label_smoothing=label_smoothing,
                              loss_weight=0.5)
    theirs = LabelSmoothLoss(label_smooth_val=label_smoothing, num_classes=NUM_CLASSES,
                             mode='original', loss_weight=0.5)
    torch.testing.assert_close(ours(cls_score, target, weight, avg_factor=6),
                               theirs(cls_score, target, weight, avg_factor=6).double(),
                               rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(ours(cls_score, target, weight, reduction_override='none'),
                               theirs(cls_score, target, weight,
                                      reduction_override='none').double(),
                               rtol=1e-6, atol=1e-8)


def test_module_matches_official_formula_and_reductions():
    gen = torch.Generator().manual_seed(4)
    cls_score = torch.randn(9, NUM_CLASSES, generator=gen, dtype=torch.float64) * 3
    label = torch.randint(0, NUM_CLASSES, (9, ), generator=gen)
    rows = asl_single_label_official(cls_score, torch.nn.functional.one_hot(label, NUM_CLASSES),
                                     1.0, 3.0, 0.2)
    loss = ASLSingleLabelLoss(gamma_pos=1.0, gamma_neg=3.0, label_smoothing=0.2,
                              loss_weight=2.0)
    torch.testing.assert_close(loss(cls_score, label), 2.0 * rows.mean())
    torch.testing.assert_close(loss(cls_score, label, reduction_override='none'), 2.0 * rows)
    torch.testing.assert_close(loss(cls_score, label, reduction_override='sum'),
                               2.0 * rows.sum())
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(loss(cls_score, label, avg_factor=4.0),
                               2.0 * rows.sum() / (4.0 + eps))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(gamma_pos=-0.5), ValueError, 'gamma_pos must be a finite number >= 0, got -0.5'),
    (dict(gamma_neg=float('nan')), ValueError, 'gamma_neg must be a finite number >= 0'),
    (dict(label_smoothing=1.0), ValueError, r'label_smoothing must be in \[0, 1\), got 1.0'),
    (dict(reduction='batchmean'), ValueError, "reduction must be one of"),
    (dict(loss_weight='1'), TypeError, 'loss_weight must be a real number'),
    (dict(eps=-1.0), ValueError, 'eps must be a finite number > 0'),
])
def test_constructor_checks_every_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        ASLSingleLabelLoss(**kwargs)


def test_forward_errors():
    loss = ASLSingleLabelLoss()
    cls_score, label = torch.zeros(2, 3), torch.tensor([0, 3])
    with pytest.raises(ValueError, match=r'target class indices must be in \[0, C\)'):
        loss(cls_score, label)
    with pytest.raises(ValueError, match="reduction_override must be None or one of"):
        loss(cls_score, torch.tensor([0, 1]), reduction_override='avg')
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['ignore_index'\]"):
        loss(cls_score, torch.tensor([0, 1]), ignore_index=-100)
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="sum"'):
        loss(cls_score, torch.tensor([0, 1]), avg_factor=2, reduction_override='sum')


def test_functional_and_module_agree():
    cls_score, label = torch.randn(4, 5), torch.tensor([0, 1, 4, 2])
    assert torch.equal(ASLSingleLabelLoss()(cls_score, label),
                       asymmetric_loss_single_label(cls_score, label))
