"""FusedFocalLoss (issue 27): MMDetection's FocalLoss one type name away. Its arguments, defaults
and forward contract, its values and gradients against ``mmdet.models.losses.FocalLoss`` itself
(the CPU path, float64) over a grid, and the fused kernel under Triton's interpreter in float32,
float16 and bfloat16 against the same oracle."""
import inspect

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope

from asl_mmdet import ASLoss, FusedFocalLoss
from asl_mmdet.ops.dispatch import IMPL_ENV
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS
from tests.test_ops.helpers import assert_matches_reference, loss_and_grad, needs_kernels

OUR_MODULE = 'asl_mmdet.models.losses.fused_focal_loss'
REDUCTIONS = [('none', None), ('none', 23.0), ('mean', None), ('mean', 23.0), ('sum', None)]


def inputs(n=40, c=7, target_kind='index', dtype=torch.float64, seed=0):
    """Logits ``3 * randn`` (N, C), class indices with C for background (``'index'``) or their
    one-hot rows (``'one_hot'``, a background row all 0), and the generator for weights."""
    g = torch.Generator().manual_seed(seed)
    pred = (torch.randn(n, c, generator=g, dtype=torch.float64) * 3).to(dtype)
    labels = torch.randint(0, c + 1, (n, ), generator=g)
    if target_kind == 'one_hot':
        return pred, F.one_hot(labels, c + 1)[:, :c].to(dtype), g
    return pred, labels, g


def make_weight(kind, n, c, g, dtype=torch.float64):
    """Weights in [0, 1) of shape (N,) for ``'n'``, (N, C) for ``'nc'``; None for None."""
    shape = {None: None, 'n': (n, ), 'nc': (n, c)}[kind]
    return None if shape is None else torch.rand(*shape, generator=g, dtype=dtype)


def both(pred, target, focal, ours, **kwargs):
    """Value and gradient (of 2 x the sum) of MMDetection's loss and ours on ``pred``."""
    return (loss_and_grad(lambda x: focal(x, target, **kwargs), pred),
            loss_and_grad(lambda x: ours(x, target, **kwargs), pred))


def test_arguments_and_defaults_are_focal_loss_s():
    for method in ('__init__', 'forward'):
        theirs = inspect.signature(getattr(FocalLoss, method)).parameters
        ours = inspect.signature(getattr(FusedFocalLoss, method)).parameters
        assert [(p.name, p.default) for p in ours.values()] == [
            (p.name, p.default) for p in theirs.values()], method
    loss = FusedFocalLoss()
    assert (loss.use_sigmoid, loss.gamma, loss.alpha, loss.reduction, loss.loss_weight,
            loss.activated) == (True, 2.0, 0.25, 'mean', 1.0, False)
    assert repr(loss) == "FusedFocalLoss(gamma=2.0, alpha=0.25, reduction='mean', loss_weight=1.0)"


def test_config_builds_ours_in_mmdet_and_mmpretrain_scopes():
    """``type='FocalLoss'`` -> ``type='FusedFocalLoss'`` with FocalLoss's own arguments, in
    both toolboxes' registries."""
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    cfg = dict(type='FusedFocalLoss', use_sigmoid=True, gamma=1.5, alpha=0.5, loss_weight=2.0)
    for registry, scope in ((MODELS, 'mmdet'), (PRETRAIN_MODELS, 'mmpretrain')):
        with DefaultScope.overwrite_default_scope(scope):
            loss = registry.build(cfg)
        assert type(loss).__module__ == OUR_MODULE and type(loss) is FusedFocalLoss
        assert (loss.gamma, loss.alpha, loss.loss_weight) == (1.5, 0.5, 2.0)
        assert isinstance(loss, ASLoss)  # tracked by ASLProbabilityHook like ASLoss


@pytest.mark.parametrize('target_kind', ['index', 'one_hot'])
@pytest.mark.parametrize('reduction,avg_factor', REDUCTIONS)
@pytest.mark.parametrize('weight_kind', [None, 'n', 'nc'])
@pytest.mark.parametrize('alpha', [0.25, 0.5])
@pytest.mark.parametrize('gamma', [0.0, 1.5, 2.0])
def test_equals_mmdet_focal_loss(gamma, alpha, weight_kind, reduction, avg_factor, target_kind):
    """MMDetection's FocalLoss (its CPU path: one-hot targets, py_sigmoid_focal_loss) in
    float64: the same values and gradients to 1e-9."""
    pred, target, g = inputs(target_kind=target_kind)
    weight = make_weight(weight_kind, *pred.shape, g)
    focal = FocalLoss(gamma=gamma, alpha=alpha, loss_weight=1.5)
    ours = FusedFocalLoss(gamma=gamma, alpha=alpha, loss_weight=1.5)
    (expected, expected_grad), (actual, actual_grad) = both(
        pred, target, focal, ours, weight=weight, avg_factor=avg_factor,
        reduction_override=reduction)
    assert actual.shape == expected.shape == (pred.shape if reduction == 'none' else ())
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(actual_grad, expected_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_reduction_of_the_constructor(reduction):
    pred, target, _ = inputs()
    (expected, expected_grad), (actual, actual_grad) = both(
        pred, target, FocalLoss(reduction=reduction, loss_weight=0.5),
        FusedFocalLoss(reduction=reduction, loss_weight=0.5))
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(actual_grad, expected_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('target_kind', ['index', 'one_hot'])
def test_flattened_weights_like_fsaf(target_kind):
    """FocalLoss takes (N * C,) weights (FSAF's per-class anchor weights, flattened by
    AnchorHead) as (N, C)."""
    pred, target, g = inputs(target_kind=target_kind)
    weight = torch.rand(pred.numel(), generator=g, dtype=torch.float64)
    (expected, expected_grad), (actual, actual_grad) = both(
        pred, target, FocalLoss(reduction='sum'), FusedFocalLoss(reduction='sum'), weight=weight)
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(actual_grad, expected_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('dtype', [torch.int64, torch.uint8, torch.bool])
def test_one_hot_labels_of_any_dtype(dtype):
    """FocalLoss casts (N, C) labels to the logits' dtype; so does FusedFocalLoss."""
    pred, target, _ = inputs(target_kind='one_hot')
    ours = FusedFocalLoss()
    torch.testing.assert_close(ours(pred, target.to(dtype)), FocalLoss()(pred, target),
                               rtol=1e-9, atol=0)


@pytest.mark.parametrize('gamma,alpha', [(0.0, 0.25), (1.5, 0.5), (2.0, 0.25)])
@pytest.mark.parametrize('target_kind', ['index', 'one_hot'])
def test_is_asloss_configured_as_focal_loss(gamma, alpha, target_kind):
    """ASLoss(gamma_pos=gamma_neg=gamma, clip=0, alpha) through the same dispatch: equal bit
    for bit."""
    pred, target, g = inputs(n=64, c=9, target_kind=target_kind, dtype=torch.float32)
    weight = make_weight('n', 64, 9, g, torch.float32)
    asl = ASLoss(gamma_pos=gamma, gamma_neg=gamma, clip=0, alpha=alpha)
    (expected, expected_grad), (actual, actual_grad) = both(
        pred, target, asl, FusedFocalLoss(gamma=gamma, alpha=alpha), weight=weight,
        avg_factor=11.0)
    assert torch.equal(actual, expected) and torch.equal(actual_grad, expected_grad)


def test_equals_mmpretrain_focal_loss_on_multi_label_targets():
    """In an mmpretrain config: mmpretrain's FocalLoss on (N, C) labels with avg_factor = N (its
    multi-label heads), which divides by avg_factor where MMDetection adds eps."""
    from mmpretrain.models.losses import FocalLoss as PretrainFocalLoss
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(16, 20, generator=g, dtype=torch.float64) * 3
    label = (torch.rand(16, 20, generator=g) < 0.1).double()
    ours = FusedFocalLoss(gamma=2.0, alpha=0.25)(pred, label, avg_factor=16)
    theirs = PretrainFocalLoss(gamma=2.0, alpha=0.25)(pred, label, avg_factor=16)
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(ours, theirs * 16 / (16 + eps), rtol=1e-12, atol=0)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(use_sigmoid=False), ValueError, 'use_sigmoid must be True, got False'),
    (dict(activated=True), ValueError, 'activated must be False, got True'),
    (dict(gamma=-1.0), ValueError, 'gamma must be a finite number >= 0, got -1.0'),
    (dict(gamma='2'), TypeError, "gamma must be a real number, got '2'"),
    (dict(alpha=1.5), ValueError, r'alpha must be in \[0, 1\], got 1.5'),
    (dict(alpha=None), TypeError, 'alpha must be a real number, got None'),
    (dict(reduction='avg'), ValueError, "reduction must be one of .*, got 'avg'"),
    (dict(loss_weight=float('nan')), ValueError, 'loss_weight must be a finite number'),
])
def test_constructor_errors_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        FusedFocalLoss(**kwargs)


def test_forward_errors_name_the_argument():
    loss = FusedFocalLoss()
    pred = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 3, 2, 0])
    with pytest.raises(ValueError, match="reduction_override.*'avg'"):
        loss(pred, labels, reduction_override='avg')
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="sum"'):
        loss(pred, labels, avg_factor=2.0, reduction_override='sum')
    with pytest.raises(ValueError, match=r'class indices must be in \[0, 3\].*got 4'):
        loss(pred, torch.tensor([0, 1, 4, 2, 0]))
    with pytest.raises(ValueError, match='weight must have shape'):
        loss(pred, labels, torch.ones(7))
    with pytest.raises(TypeError, match=r'FusedFocalLoss takes class indices \(N,\) or \(N, C\)'):
        loss(pred, (labels, torch.rand(5)))


@needs_kernels
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('target_kind', ['index', 'one_hot'])
@pytest.mark.parametrize('gamma,reduction,avg_factor', [(2.0, 'mean', 12.5), (1.5, 'none', None)])
def test_kernel_equals_mmdet_focal_loss(monkeypatch, dtype, target_kind, gamma, reduction,
                                        avg_factor):
    """The fused kernel (forced; Triton's interpreter without a GPU) in each dtype against
    MMDetection's FocalLoss in float64 on the same logits, within the kernel tests' per-dtype
    tolerances (flash-attention's criterion against the reference in that dtype)."""
    pred, target, g = inputs(n=13, c=37, target_kind=target_kind, dtype=dtype)
    weight = make_weight('n', 13, 37, g, torch.float32)
    loss = FusedFocalLoss(gamma=gamma, loss_weight=0.7)
    kwargs = dict(weight=weight, avg_factor=avg_factor, reduction_override=reduction)
    runs = {}
    for impl in ('triton', 'ref'):
        monkeypatch.setenv(IMPL_ENV, impl)
        runs[impl] = loss_and_grad(lambda x: loss(x, target, **kwargs), pred)
    oracle_target = target.double() if target_kind == 'one_hot' else target
    oracle = loss_and_grad(
        lambda x: FocalLoss(gamma=gamma, loss_weight=0.7)(x, oracle_target, weight.double(),
                                                         avg_factor, reduction),
        pred.double())
    for index in (0, 1):  # the value, the gradient
        assert_matches_reference(runs['triton'][index], runs['ref'][index], oracle[index])

