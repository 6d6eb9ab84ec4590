"""The single-label (softmax) Asymmetric Loss' reference against the official formula, written
independently in float64 (tests/asl_oracle.py), and its argument checks."""
import pytest
import torch
import torch.nn.functional as F

from asl_mmdet.ops import asymmetric_loss_single_label, asymmetric_loss_single_label_ref
from tests.asl_oracle import asl_single_label_official
from tests.test_ops.helpers import loss_and_grad

# (gamma_pos, gamma_neg, label_smoothing)
PARAMS = [
    (0.0, 4.0, 0.1),  # the official defaults
    (1.0, 4.0, 0.1),  # timm's defaults
    (0.0, 0.0, 0.0),  # cross-entropy
    (0.0, 0.0, 0.2),  # cross-entropy with label smoothing
    (2.0, 3.0, 0.0),
    (0.5, 1.5, 0.05),  # non-integer gammas
]
SHAPES = [(41, 1271), (7, 3), (1, 1), (0, 10)]


def make_single_label_inputs(shape, target_kind, dtype=torch.float64, seed=0, scale=3.0):
    """Logits ``scale * randn`` drawn in float64 and cast to ``dtype``; class indices in
    [0, C) (``'index'``), or soft labels (``'soft'``: mixup of two one-hot rows, and one row of
    random weights summing to 1). Returns pred, target and the float64 (N, C) labels."""
    g = torch.Generator().manual_seed(seed)
    n, c = shape
    pred = (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(dtype)
    index = torch.randint(0, c, (n, ), generator=g)
    dense = F.one_hot(index, c).double()
    if target_kind == 'index':
        return pred, index, dense
    lam = torch.rand(n, 1, generator=g, dtype=torch.float64)
    dense = lam * dense + (1 - lam) * dense.roll(1, 0)
    if n:
        dense[0] = torch.rand(c, generator=g, dtype=torch.float64).softmax(0)
    return pred, dense.clone(), dense


@pytest.mark.parametrize('params', PARAMS)
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
@pytest.mark.parametrize('shape', SHAPES)
def test_matches_official_implementation(params, target_kind, shape):
    gamma_pos, gamma_neg, eps = params
    pred, target, dense = make_single_label_inputs(shape, target_kind)
    kwargs = dict(gamma_pos=gamma_pos, gamma_neg=gamma_neg, label_smoothing=eps)
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label(x, target, reduction='none', **kwargs), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: asl_single_label_official(x, dense, gamma_pos, gamma_neg, eps), pred)
    assert loss.shape == (shape[0], )
    if shape[1] == 1:  # p = 1: the loss is 0 whatever the logit (the official gradient is
        ref_grad = torch.zeros_like(pred)  # NaN for 0 < gamma_pos < 1: 0 ** (gamma - 1) * 0)
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize('eps', [0.0, 0.1, 0.5])
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
def test_zero_gammas_are_cross_entropy_with_label_smoothing(eps, target_kind):
    pred, target, dense = make_single_label_inputs((41, 1271), target_kind)
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label(x, target, gamma_pos=0, gamma_neg=0,
                                               label_smoothing=eps), pred)
    ref, ref_grad = loss_and_grad(lambda x: F.cross_entropy(x, target, label_smoothing=eps),
                                  pred)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize('params', PARAMS)
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
def test_gradcheck(params, target_kind):
    gamma_pos, gamma_neg, eps = params
    pred, target, _ = make_single_label_inputs((5, 7), target_kind)
    weight = torch.rand(5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.autograd.gradcheck(
        lambda x: asymmetric_loss_single_label(x, target, weight, gamma_pos, gamma_neg, eps,
                                               reduction='none'),
        pred.requires_grad_())


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('use_weight', [False, True])
@pytest.mark.parametrize('reduction,avg_factor', [('none', None), ('mean', None),
                                                  ('mean', 37.5), ('mean', 'tensor'),
                                                  ('sum', None)])
def test_weights_and_reductions(shape, use_weight, reduction, avg_factor):
    pred, target, dense = make_single_label_inputs(shape, 'index')
    weight = (torch.rand(shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
              if use_weight else None)
    if avg_factor == 'tensor':
        avg_factor = torch.tensor(12.25, dtype=torch.float64)
    eps = torch.finfo(torch.float32).eps
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label(x, target, weight, reduction=reduction,
                                               avg_factor=avg_factor, loss_weight=0.7), pred)

    def oracle(x):
        rows = asl_single_label_official(x, dense, 0.0, 4.0, 0.1)
        if weight is not None:
            rows = rows * weight
        if reduction == 'none':
            return 0.7 * rows
        if reduction == 'sum':
            return 0.7 * rows.sum()
        if avg_factor is None:
            return 0.7 * rows.sum() / max(shape[0], 1)
        return 0.7 * rows.sum() / (avg_factor + eps)

    ref, ref_grad = loss_and_grad(oracle, pred)
    assert loss.shape == ref.shape
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize('dtype,rtol', [(torch.float16, 1e-3), (torch.bfloat16, 8e-3)])
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
@pytest.mark.parametrize('reduction', ['none', 'mean'])
def test_half_logits_match_float32(dtype, rtol, target_kind, reduction):
    # logits up to +-60: exp overflows float16 (max 65504) in a naive softmax
    pred, target, _ = make_single_label_inputs((41, 1271), target_kind, scale=20.0)
    pred = pred.clamp(-60, 60).to(dtype)
    pred[0, :2] = torch.tensor([60.0, -60.0], dtype=dtype)
    if target_kind == 'soft':
        target = target.to(dtype)
    kwargs = dict(gamma_pos=1.0, gamma_neg=4.0, label_smoothing=0.1, reduction=reduction)
    loss, grad = loss_and_grad(lambda x: asymmetric_loss_single_label(x, target, **kwargs), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label(x, target.float() if target_kind == 'soft'
                                               else target, **kwargs), pred.float())
    assert loss.dtype == grad.dtype == dtype
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(loss.float(), ref, rtol=rtol, atol=1e-5)
    torch.testing.assert_close(grad.float(), ref_grad, rtol=rtol, atol=1e-5)


@pytest.mark.parametrize('gamma_pos,gamma_neg', [(0.0, 4.0), (0.5, 0.5), (1.0, 2.0)])
def test_saturated_probabilities_stay_finite(gamma_pos, gamma_neg):
    # p_y == 1 and p_c == 0 exactly in float32: fractional gammas must not give inf * 0
    pred = torch.tensor([[200.0, -200.0, 0.0], [-200.0, 200.0, 150.0]], requires_grad=True)
    target = torch.tensor([0, 2])
    loss = asymmetric_loss_single_label(pred, target, gamma_pos=gamma_pos, gamma_neg=gamma_neg,
                                        reduction='sum')
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    ref = asymmetric_loss_single_label(pred.detach().double(), target, gamma_pos=gamma_pos,
                                       gamma_neg=gamma_neg, reduction='sum')
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)


def test_reference_is_the_dispatched_function_on_cpu():
    pred, target, _ = make_single_label_inputs((7, 3), 'index', dtype=torch.float32)
    assert torch.equal(asymmetric_loss_single_label(pred, target),
                       asymmetric_loss_single_label_ref(pred, target))


PRED = torch.zeros(4, 5)
INDEX = torch.tensor([0, 1, 2, 4])
BAD_ARGS = [
    (dict(gamma_pos=-1.0), ValueError, 'gamma_pos must be a finite number >= 0, got -1.0'),
    (dict(gamma_neg=float('nan')), ValueError, 'gamma_neg must be a finite number >= 0, got nan'),
    (dict(gamma_neg='4'), TypeError, 'gamma_neg must be a real number'),
    (dict(label_smoothing=1.0), ValueError, r'label_smoothing must be in \[0, 1\), got 1.0'),
    (dict(label_smoothing=-0.1), ValueError, r'label_smoothing must be in \[0, 1\), got -0.1'),
    (dict(target=torch.tensor([0, 1, 2, 5])), ValueError,
     r'target class indices must be in \[0, C\) with C = 5, got 5'),
    (dict(target=torch.tensor([0, -1, 2, 4])), ValueError,
     r'target class indices must be in \[0, C\) with C = 5, got -1'),
    (dict(target=torch.tensor([0, 1, 2])), ValueError,
     r'target of class indices \(torch.int64\) must have shape \(4,\), got \(3,\)'),
    (dict(target=torch.zeros(4, 1, dtype=torch.long)), ValueError,
     r'must have shape \(4,\), got \(4, 1\)'),
    (dict(target=torch.zeros(4, 6)), ValueError,
     r'soft target of dtype torch.float32 must have the shape of pred \(4, 5\), got \(4, 6\)'),
    (dict(target=torch.full((4, 5), 1.5)), ValueError,
     r'target soft labels must be in \[0, 1\], got 1.5'),
    (dict(target=torch.full((4, 5), float('nan'))), ValueError, 'target soft labels'),
    (dict(target=torch.zeros(4, dtype=torch.bool)), TypeError, 'got dtype torch.bool'),
    (dict(target=[0, 1, 2, 3]), TypeError, 'target must be a Tensor'),
    (dict(pred=torch.zeros(4, 5, dtype=torch.long)), TypeError,
     'pred must be a floating-point Tensor'),
    (dict(pred=torch.zeros(4)), ValueError, r'pred must have shape \(N, C\)'),
    (dict(weight=torch.ones(4, 5)), ValueError,
     r'weight must be per-sample, of shape \(4,\), got \(4, 5\)'),
    (dict(weight=torch.ones(3)), ValueError, r'weight must be per-sample, of shape \(4,\)'),
    (dict(weight=torch.ones(4, dtype=torch.long)), TypeError, 'weight must be a floating-point'),
    (dict(reduction='avg'), ValueError, "reduction must be one of .*, got 'avg'"),
    (dict(reduction='sum', avg_factor=2.0), ValueError,
     'avg_factor can not be used with reduction="sum"'),
    (dict(avg_factor=0.0), ValueError, 'avg_factor must be a finite number > 0, got 0.0'),
    (dict(avg_factor=float('inf')), ValueError, 'avg_factor must be a finite number > 0'),
    (dict(avg_factor=torch.tensor([1.0, 2.0])), ValueError,
     'avg_factor must be a number or a one-element real Tensor'),
    (dict(avg_factor=torch.tensor(-3.0)), ValueError, 'avg_factor must be a finite number > 0'),
    (dict(loss_weight=float('nan')), ValueError, 'loss_weight must be a finite number'),
    (dict(eps=0.0), ValueError, 'eps must be a finite number > 0'),
]


@pytest.mark.parametrize('kwargs,error,match', BAD_ARGS)
def test_bad_arguments_are_named(kwargs, error, match):
    kwargs = dict(kwargs)
    pred, target = kwargs.pop('pred', PRED), kwargs.pop('target', INDEX)
    with pytest.raises(error, match=match):
        asymmetric_loss_single_label(pred, target, **kwargs)
