"""ASLoss in mmpretrain: a user's config names it with two lines, the multi-label head's loss
call reaches the same dispatch as detection (fused kernel or reference) with dense targets, and
the values match the paper's Eq. 7 in float64."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from asl_mmdet.ops import AsymmetricLossRefFunction, asymmetric_loss
from asl_mmdet.ops.dispatch import IMPL_ENV
from tests.asl_oracle import asl_paper
from tests.test_ops.helpers import kernels_skip_reason

OUR_MODULE = 'asl_mmdet.models.losses.asymmetric_loss'
NUM_CLASSES = 7

# what a user adds to their own mmpretrain config (the README shows the same two lines)
USER_CONFIG = """
_base_ = ['mmpretrain::_base_/models/resnet50.py']
custom_imports = dict(imports=['asl_mmdet'], allow_failed_imports=False)
model = dict(backbone=dict(depth=18), head=dict(
    _delete_=True, type='MultiLabelLinearClsHead', num_classes=7, in_channels=512,
    loss=dict(type='ASLoss', gamma_neg=4.0, gamma_pos=0.0, clip=0.05)))
"""


@pytest.fixture
def user_model(tmp_path):
    path = tmp_path / 'user_cfg.py'
    path.write_text(USER_CONFIG)
    cfg = Config.fromfile(str(path))
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # leaves other tests' scope
        return MODELS.build(cfg.model)


def make_batch(num=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(num, 512, generator=gen)
    labels = [torch.randperm(NUM_CLASSES, generator=gen)[:k].sort().values
              for k in torch.randint(0, 4, (num, ), generator=gen).tolist()]
    samples = [DataSample().set_gt_label(label) for label in labels]
    dense = torch.zeros(num, NUM_CLASSES)
    for row, label in enumerate(labels):
        dense[row, label] = 1
    return feats, samples, dense


def test_user_config_builds_our_loss(user_model):
    loss = user_model.head.loss_module
    assert type(loss).__module__ == OUR_MODULE and type(loss).__name__ == 'ASLoss'
    assert (loss.gamma_neg, loss.gamma_pos, loss.clip) == (4.0, 0.0, 0.05)
    assert MODELS.get('AsymmetricLoss').__module__.startswith('mmpretrain.')


def test_head_loss_equals_reference_and_paper(user_model, monkeypatch):
    monkeypatch.setenv(IMPL_ENV, 'ref')
    feats, samples, dense = make_batch()
    value = user_model.head.loss((feats, ), samples)['loss']
    logits = user_model.head.fc(feats).detach()
    reference = asymmetric_loss(logits, dense, gamma_pos=0.0, gamma_neg=4.0, clip=0.05,
                                avg_factor=len(samples))
    torch.testing.assert_close(value.detach(), reference, rtol=1e-6, atol=1e-7)
    # mmpretrain's head passes avg_factor=N: Eq. 7 summed over classes, averaged over images
    paper = asl_paper(logits, dense, 0.0, 4.0, 0.05).sum() / len(samples)
    torch.testing.assert_close(value.double().detach(), paper, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('impl', ['ref', 'triton'])
def test_head_reaches_the_dispatch(user_model, impl, monkeypatch):
    """The head's call goes through asymmetric_loss's dispatch with dense (N, C) targets: the
    reference on the CPU, the fused kernel when forced (run by Triton's interpreter here)."""
    if impl == 'triton' and kernels_skip_reason() is not None:
        pytest.skip(kernels_skip_reason())
    monkeypatch.setenv(IMPL_ENV, impl)
    feats, samples, dense = make_batch(num=4, seed=1)
    value = user_model.head.loss((feats.requires_grad_(), ), samples)['loss']
    if impl == 'triton':
        from asl_mmdet.ops import AsymmetricLossTritonFunction as expected
    else:
        expected = AsymmetricLossRefFunction
    assert type(value.grad_fn).__name__ == expected.__name__ + 'Backward'
    value.backward()
    logits = user_model.head.fc(feats).detach().double().requires_grad_()
    paper = asl_paper(logits, dense, 0.0, 4.0, 0.05).sum() / len(samples)
    paper.backward()
    torch.testing.assert_close(value.double().detach(), paper.detach(), rtol=1e-5, atol=1e-6)
    # the gradient reaching the classifier's weight: chain rule through fc from the oracle
    expected_grad = logits.grad.T.float() @ feats.detach()
    torch.testing.assert_close(user_model.head.fc.weight.grad, expected_grad, rtol=1e-4,
                               atol=1e-5)
