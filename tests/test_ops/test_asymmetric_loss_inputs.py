"""Inputs at the edges, on both paths: no silent wrong number, a named error instead.

Each test runs the reference (``asymmetric_loss_ref``) and the fused kernel
(``asymmetric_loss_fused``; under Triton's interpreter without a GPU), against values written
from the paper's Eq. 7 in float64.
"""
import math

import pytest
import torch

from asl_mmdet.models.losses import ASLoss
from asl_mmdet.ops import asymmetric_loss, asymmetric_loss_ref
from asl_mmdet.ops.reference import DOUBLE_BACKWARD_MESSAGE
from tests.asl_oracle import asl_paper, one_hot
from tests.test_ops.helpers import kernels_skip_reason

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'


def fused_loss(*args, **kwargs):
    reason = kernels_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    from asl_mmdet.ops.fused import asymmetric_loss_fused
    return asymmetric_loss_fused(*args, **kwargs)


IMPLS = [pytest.param(asymmetric_loss_ref, id='ref'), pytest.param(fused_loss, id='fused')]


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('avg_factor', [8000.0, torch.tensor(8000.0)], ids=['float', 'tensor'])
def test_half_logits_mean_with_avg_factor_does_not_overflow(impl, avg_factor):
    """FCOS passes a tensor avg_factor; under --amp its logits are float16. The sum of the
    element losses (8000 x 100) overflows float16: it must be divided before the cast."""
    pred = torch.full((1000, 8), -100.0, dtype=torch.float16, device=DEVICE,
                      requires_grad=True)
    target = torch.ones(1000, 8, dtype=torch.float16, device=DEVICE)
    loss = impl(pred, target, avg_factor=avg_factor.to(DEVICE) if torch.is_tensor(avg_factor)
                else avg_factor)
    # a positive at z = -100 with gamma_pos = 0: -log(sigmoid(-100)) = 100 (Eq. 7)
    expected = -torch.nn.functional.logsigmoid(torch.tensor(-100.0, dtype=torch.float64))
    assert loss.dtype == torch.float16
    assert loss.item() == pytest.approx(expected.item(), rel=1e-3)
    loss.backward()
    # d/dz -log(p) = -(1 - p) = -1, over avg_factor
    torch.testing.assert_close(pred.grad.double().cpu(),
                               torch.full((1000, 8), -1 / 8000, dtype=torch.float64),
                               rtol=1e-3, atol=0)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('dtype', [torch.int8, torch.int16, torch.uint8, torch.int32])
def test_small_integer_class_indices(impl, dtype):
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(9, 4, generator=g).to(DEVICE)
    labels = torch.randint(0, 5, (9, ), generator=g)
    kwargs = dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.05)
    x = pred.clone().requires_grad_()
    loss = impl(x, labels.to(dtype).to(DEVICE), reduction='sum', **kwargs)
    loss.backward()
    x64 = pred.double().cpu().requires_grad_()
    expected = asl_paper(x64, one_hot(labels, 4), **kwargs).sum()
    expected.backward()
    torch.testing.assert_close(loss.double().cpu(), expected.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad.double().cpu(), x64.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('impl', IMPLS)
def test_double_backward_raises(impl):
    pred = torch.randn(4, 3, device=DEVICE)
    target = torch.tensor([0, 1, 3, 2], device=DEVICE)
    with pytest.raises(RuntimeError, match='double backward is not supported'):
        torch.autograd.functional.hessian(lambda x: impl(x, target, reduction='sum'), pred)
    x = pred.clone().requires_grad_()
    with pytest.raises(RuntimeError, match='double backward is not supported'):
        torch.autograd.grad(impl(x, target), x, create_graph=True)
    # the first-order gradient is unaffected
    (grad, ) = torch.autograd.grad(impl(x, target), x)
    assert torch.isfinite(grad).all()
    assert 'closed form' in DOUBLE_BACKWARD_MESSAGE


@pytest.mark.parametrize('z', [8.0, 12.0, 16.0, 17.0, 20.0, 30.0])
@pytest.mark.parametrize('gamma_neg', [0.0, 4.0])
def test_reference_negative_gradient_with_margin_at_large_logits(z, gamma_neg):
    """``1 - p`` in ``dp/dz = p (1 - p)`` must not come from ``1 - sigmoid(z)``: in float32 it
    loses every digit from z ~ 17 (the gradient is ~4e-8 there, not 0)."""
    clip = 0.05
    pred = torch.tensor([[z]], requires_grad=True)
    asymmetric_loss(pred, torch.zeros(1, 1), gamma_neg=gamma_neg, clip=clip,
                    reduction='sum').backward()
    z64 = torch.tensor([[z]], dtype=torch.float64, requires_grad=True)
    asl_paper(z64, torch.zeros(1, 1), 0.0, gamma_neg, clip).sum().backward()
    assert z64.grad.item() > 0
    assert pred.grad.item() == pytest.approx(z64.grad.item(), rel=1e-5)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('avg_factor,error,match', [
    (0.0, ValueError, 'avg_factor must be a finite number > 0, got 0.0'),
    (-4.0, ValueError, 'avg_factor must be a finite number > 0, got -4.0'),
    (math.nan, ValueError, 'avg_factor.*got nan'),
    (math.inf, ValueError, 'avg_factor.*got inf'),
    ('8', TypeError, "avg_factor must be a real number, got '8'"),
    (True, TypeError, 'avg_factor must be a real number, got True'),
    (torch.tensor([2.0, 3.0]), ValueError, r'avg_factor.*one-element.*\(2,\)'),
    (torch.tensor(True), ValueError, 'avg_factor.*one-element real Tensor'),
    (torch.tensor(0.0), ValueError, 'avg_factor must be a finite number > 0, got 0.0'),
    (torch.tensor(math.nan), ValueError, 'avg_factor.*got nan'),
])
def test_bad_avg_factor(impl, avg_factor, error, match):
    pred = torch.randn(4, 3, device=DEVICE)
    target = torch.tensor([0, 1, 3, 2], device=DEVICE)
    with pytest.raises(error, match=match):
        impl(pred, target, avg_factor=avg_factor)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('kwargs,error,match', [
    (dict(loss_weight='1'), TypeError, "loss_weight must be a real number, got '1'"),
    (dict(loss_weight=math.nan), ValueError, 'loss_weight must be a finite number, got nan'),
    (dict(loss_weight=math.inf), ValueError, 'loss_weight must be a finite number, got inf'),
    (dict(detach_focal_weight='False'), TypeError,
     "detach_focal_weight must be a bool, got 'False'"),
    (dict(gamma_neg=math.inf), ValueError, 'gamma_neg must be a finite number >= 0, got inf'),
    (dict(eps=0.0), ValueError, 'eps must be a finite number > 0, got 0.0'),
    (dict(clip=1.0), ValueError, r'clip must be in \[0, 1\), got 1.0'),
])
def test_bad_hyper_parameters(impl, kwargs, error, match):
    pred = torch.randn(4, 3, device=DEVICE)
    with pytest.raises(error, match=match):
        impl(pred, torch.tensor([0, 1, 3, 2], device=DEVICE), **kwargs)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(loss_weight='1'), TypeError, 'loss_weight'),
    (dict(loss_weight=math.nan), ValueError, 'loss_weight.*nan'),
    (dict(loss_weight=math.inf), ValueError, 'loss_weight.*inf'),
    (dict(detach_focal_weight='False'), TypeError, 'detach_focal_weight'),
    (dict(detach_focal_weight=0), TypeError, 'detach_focal_weight'),
])
def test_module_checks_every_argument_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        ASLoss(**kwargs)


@pytest.mark.parametrize('impl', IMPLS)
def test_nan_labels_are_rejected(impl):
    pred = torch.randn(3, 3, device=DEVICE)
    target = torch.tensor([[0.0, 1.0, math.nan], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]],
                          device=DEVICE)
    with pytest.raises(ValueError, match=r'labels must be in \[0, 1\].*got nan'):
        impl(pred, target)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('label', [-2.0, -0.5, 1.5, math.nan])
def test_bad_dense_labels_beside_ignored_ones_are_named(impl, label):
    """-1 (ignored) is a label; any other value outside [0, 1] is a named error."""
    pred = torch.randn(3, 3, device=DEVICE)
    target = torch.tensor([[0.0, -1.0, 1.0], [0.5, -1.0, 0.0], [1.0, 0.0, 0.0]],
                          device=DEVICE)
    impl(pred, target)
    target[2, 1] = label
    with pytest.raises(ValueError, match=rf'labels must be in \[0, 1\] or -1 \(ignored\), got '
                       rf'{label}'):
        impl(pred, target)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('class_weight,error,match', [
    ([1.0, 2.0], ValueError,
     r'class_weight must hold one weight per class: got 2 weights .*\(C = 3\)'),
    ([1.0, 2.0, 3.0, 4.0], ValueError, r'class_weight.*got 4 weights .*\(C = 3\)'),
    ([1.0, -0.5, 1.0], ValueError, r'class_weight\[1\] must be a finite number >= 0, got -0.5'),
    ([1.0, 1.0, math.nan], ValueError, r'class_weight\[2\] must be a finite number >= 0, got nan'),
    ([math.inf, 1.0, 1.0], ValueError, r'class_weight\[0\] must be a finite number >= 0, got inf'),
    ([1.0, '2', 1.0], TypeError, r"class_weight\[1\] must be a real number, got '2'"),
    ([1.0, True, 1.0], TypeError, r'class_weight\[1\] must be a real number, got True'),
    ([], ValueError, 'class_weight must hold one weight per class, got an empty list'),
    (torch.ones(3), TypeError, 'class_weight must be None or a list / tuple'),
    (2.0, TypeError, 'class_weight must be None or a list / tuple'),
])
def test_bad_class_weight(impl, class_weight, error, match):
    pred = torch.randn(4, 3, device=DEVICE)
    with pytest.raises(error, match=match):
        impl(pred, torch.tensor([0, 1, 3, 2], device=DEVICE), class_weight=class_weight)
