"""The fused Triton single-label Asymmetric Loss against the plain-PyTorch reference.

On CUDA the kernel runs compiled; without a GPU it runs on the CPU under Triton's interpreter
(``TRITON_INTERPRET=1``, set by ``conftest.py``). Values and gradients must be within
flash-attention's criterion against the float64 reference: at most twice the reference's own
error in the same dtype, plus a few ulps of the largest value. The closed-form gradient the
kernel computes is also checked against autograd in float64, written in PyTorch.
"""
import pytest
import torch
import torch.nn.functional as F

from tests.test_ops.helpers import skip_without_kernels

skip_without_kernels()

from asl_mmdet.ops import (asymmetric_loss_single_label,  # noqa: E402
                           asymmetric_loss_single_label_ref, fused_single_label)
from asl_mmdet.ops.dispatch import IMPL_ENV  # noqa: E402
from asl_mmdet.ops.fused_single_label import asymmetric_loss_single_label_fused  # noqa: E402
from tests.test_ops.helpers import loss_and_grad  # noqa: E402

CUDA = torch.cuda.is_available()
DEVICE = 'cuda' if CUDA else 'cpu'
CUDA_ONLY = pytest.mark.skipif(not CUDA, reason='large shape: CUDA only (slow in the '
                               'interpreter)')
# (7, 3000): two trips of a row's loops
SHAPES = [(41, 1271), (7, 3), (1, 1), (0, 10), (7, 3000)] + [
    pytest.param(shape, marks=CUDA_ONLY) for shape in [(256, 21843), (4096, 1000)]
]
# (gamma_pos, gamma_neg, label_smoothing)
PARAMS = [(0.0, 4.0, 0.1), (1.0, 4.0, 0.1), (0.0, 0.0, 0.1), (0.5, 1.5, 0.05), (2.0, 3.0, 0.0)]
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
ULPS = {torch.float32: 64, torch.bfloat16: 2, torch.float16: 2}


def make_inputs(shape, dtype, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    n, c = shape
    pred = (torch.randn(n, c, generator=g) * scale).to(dtype).to(DEVICE)
    target = torch.randint(0, max(c, 1), (n, ), generator=g).to(DEVICE)
    return pred, target


def assert_within_criterion(actual, ref, oracle):
    """``actual`` (fused) and ``ref`` (reference) in the same dtype, ``oracle`` in float64."""
    assert actual.dtype == ref.dtype and actual.shape == ref.shape == oracle.shape
    if oracle.numel() == 0:
        return
    oracle = oracle.cpu()
    ref_error = (ref.cpu().double() - oracle).abs()
    error = (actual.cpu().double() - oracle).abs()
    slack = ULPS[actual.dtype] * torch.finfo(actual.dtype).eps * oracle.abs().max()
    assert torch.isfinite(actual).all()
    assert (error <= 2 * ref_error + slack).all(), (error - 2 * ref_error).max()


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('params', PARAMS)
@pytest.mark.parametrize('dtype', DTYPES)
def test_matches_reference(shape, params, dtype):
    gamma_pos, gamma_neg, eps = params
    pred, target = make_inputs(shape, dtype)
    kwargs = dict(gamma_pos=gamma_pos, gamma_neg=gamma_neg, label_smoothing=eps)
    loss, grad = loss_and_grad(lambda x: asymmetric_loss_single_label_fused(x, target, **kwargs),
                               pred)
    ref, ref_grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label_ref(x, target, **kwargs), pred)
    oracle, oracle_grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label_ref(x, target.cpu(), **kwargs),
        pred.cpu().double())
    assert_within_criterion(loss, ref, oracle)
    assert_within_criterion(grad, ref_grad, oracle_grad)


@pytest.mark.parametrize('use_weight', [False, True])
@pytest.mark.parametrize('reduction,avg_factor', [('none', None), ('mean', None),
                                                  ('mean', 37.5), ('mean', 'tensor'),
                                                  ('sum', None)])
@pytest.mark.parametrize('dtype', DTYPES)
def test_weights_and_reductions(use_weight, reduction, avg_factor, dtype):
    pred, target = make_inputs((13, 37), dtype)
    weight = (torch.rand(13, generator=torch.Generator().manual_seed(1)).to(DEVICE)
              if use_weight else None)
    if avg_factor == 'tensor':
        avg_factor = torch.tensor(12.25, device=DEVICE)
    kwargs = dict(reduction=reduction, avg_factor=avg_factor, loss_weight=0.7, gamma_pos=1.0)
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label_fused(x, target, weight, **kwargs), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label_ref(x, target, weight, **kwargs), pred)
    oracle, oracle_grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label_ref(
            x, target.cpu(), None if weight is None else weight.cpu().double(),
            **dict(kwargs, avg_factor=avg_factor.cpu().double() if torch.is_tensor(avg_factor)
                   else avg_factor)), pred.cpu().double())
    assert_within_criterion(loss, ref, oracle)
    assert_within_criterion(grad, ref_grad, oracle_grad)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_gradients_survive_a_grad_scaler(dtype):
    """'mean' over many rows times a GradScaler's 32768: the float16 gradient is scaled in
    float32 after the kernel, so small elements are not flushed to 0 first."""
    pred, target = make_inputs((41, 1271), dtype)
    gradient = torch.tensor(32768.0, device=DEVICE)
    _, grad = loss_and_grad(lambda x: asymmetric_loss_single_label_fused(x, target), pred,
                            gradient.to(dtype))
    _, ref_grad = loss_and_grad(lambda x: asymmetric_loss_single_label_ref(x, target), pred,
                                gradient.to(dtype))
    torch.testing.assert_close(grad, ref_grad, rtol=1e-2, atol=0)


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('gamma_pos,gamma_neg', [(0.0, 4.0), (0.5, 0.5), (1.0, 2.0)])
def test_extreme_logits_stay_finite(dtype, gamma_pos, gamma_neg):
    # +-60 overflows exp in float16; +-200 saturates p_y to exactly 1 and p_c to 0 in float32
    pred = torch.tensor([[60.0, -60.0, 0.0, 5.0], [-60.0, 60.0, 59.0, 0.0],
                         [200.0, -200.0, 0.0, 1.0], [-200.0, 200.0, 150.0, 0.0]])
    pred = pred.clamp(-60, 60) if dtype == torch.float16 else pred
    pred, target = pred.to(dtype).to(DEVICE), torch.tensor([0, 2, 0, 2], device=DEVICE)
    kwargs = dict(gamma_pos=gamma_pos, gamma_neg=gamma_neg, reduction='none')
    loss, grad = loss_and_grad(lambda x: asymmetric_loss_single_label_fused(x, target, **kwargs),
                               pred)
    oracle, oracle_grad = loss_and_grad(
        lambda x: asymmetric_loss_single_label_ref(x, target.cpu(), **kwargs),
        pred.cpu().double())
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    tol = dict(rtol=1e-2, atol=1e-3) if dtype != torch.float32 else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss.cpu().double(), oracle, **tol)
    torch.testing.assert_close(grad.cpu().double(), oracle_grad, **tol)


def closed_form_grad(z, target, gamma_pos, gamma_neg, eps):
    """The kernel's gradient, ``p_j R - r_j``, written in PyTorch (see the kernel's module)."""
    num_classes = z.shape[1]
    log_p = F.log_softmax(z, 1)
    p = log_p.exp()
    t = F.one_hot(target, num_classes).to(z.dtype)
    s = t * (1 - eps) + eps / num_classes
    log_p_y, p_y = log_p.gather(1, target[:, None]), p.gather(1, target[:, None])
    q_y = -torch.expm1(log_p_y)
    r_y = s.gather(1, target[:, None]) * q_y**gamma_pos * (1 - gamma_pos * p_y * log_p_y / q_y)
    r = eps / num_classes * p**gamma_neg * (1 + gamma_neg * log_p)
    r = r.scatter(1, target[:, None], r_y)
    return p * r.sum(1, keepdim=True) - r


@pytest.mark.parametrize('params', PARAMS)
def test_closed_form_gradient_is_autograd_in_float64(params):
    gamma_pos, gamma_neg, eps = params
    g = torch.Generator().manual_seed(5)
    z = torch.randn(41, 1271, generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, 1271, (41, ), generator=g)
    _, autograd = loss_and_grad(
        lambda x: asymmetric_loss_single_label_ref(x, target, gamma_pos=gamma_pos,
                                                   gamma_neg=gamma_neg, label_smoothing=eps,
                                                   reduction='sum'), z, torch.tensor(1.0))
    torch.testing.assert_close(closed_form_grad(z, target, gamma_pos, gamma_neg, eps), autograd,
                               rtol=1e-10, atol=1e-15)


def test_dispatch(monkeypatch):
    pred, target = make_inputs((7, 3), torch.float32)
    soft = F.one_hot(target, 3).float() * 0.8 + 0.2 / 3
    monkeypatch.setenv(IMPL_ENV, 'triton')
    calls = []
    monkeypatch.setattr(fused_single_label, 'asymmetric_loss_single_label_fused',
                        lambda *args: calls.append(args) or torch.zeros(()))
    asymmetric_loss_single_label(pred, target)
    assert len(calls) == 1  # class indices: the kernel
    assert torch.equal(asymmetric_loss_single_label(pred, soft),
                       asymmetric_loss_single_label_ref(pred, soft))  # soft labels: reference
    assert len(calls) == 1
    monkeypatch.setenv(IMPL_ENV, 'ref')
    asymmetric_loss_single_label(pred, target)
    assert len(calls) == 1


def test_double_backward_raises():
    pred, target = make_inputs((4, 5), torch.float32)
    pred.requires_grad_()
    loss = asymmetric_loss_single_label_fused(pred, target)
    with pytest.raises(RuntimeError, match='double backward is not supported'):
        torch.autograd.grad(loss, pred, create_graph=True)


def test_second_backward_raises():
    """The gradient is scaled in place (no copy, no host synchronisation): one backward per
    forward."""
    pred, target = make_inputs((4, 5), torch.float32)
    loss = asymmetric_loss_single_label_fused(pred.requires_grad_(), target)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='once per forward'):
        loss.backward()


@pytest.mark.parametrize('reduction', ['mean', 'none'])
def test_backward_scales_by_grad_output_without_reading_it_on_the_host(reduction, monkeypatch):
    """backward multiplies by grad_output on the device: ``Tensor.item`` is never called."""
    pred, target = make_inputs((6, 7), torch.float32)
    ref_pred = pred.clone().requires_grad_()
    ref = asymmetric_loss_single_label_ref(ref_pred, target, reduction=reduction)
    grad_output = torch.rand(ref.shape, device=DEVICE) + 0.5
    ref.backward(grad_output)
    loss = asymmetric_loss_single_label_fused(pred.requires_grad_(), target,
                                              reduction=reduction)

    def no_item(self):
        raise AssertionError('Tensor.item() in backward')

    monkeypatch.setattr(torch.Tensor, 'item', no_item)
    loss.backward(grad_output)
    monkeypatch.undo()
    torch.testing.assert_close(pred.grad, ref_pred.grad, rtol=1e-5, atol=1e-7)


def test_soft_labels_are_refused():
    pred, target = make_inputs((4, 5), torch.float32)
    with pytest.raises(TypeError, match='takes class indices'):
        asymmetric_loss_single_label_fused(pred, F.one_hot(target, 5).float())


@pytest.mark.parametrize('reduction', ['mean', 'none'])
def test_torch_compile_sees_one_op_per_pass(reduction, monkeypatch):
    """Issue 20, item 7: under torch.compile the single-label kernel is an op of its own
    (a triton op compiled, a custom op under the interpreter): one graph, no raw launch traced
    through ``ctx`` and ``torch.cuda.device``, and the values and gradient of eager."""
    monkeypatch.setenv(IMPL_ENV, 'triton')
    pred, target = make_inputs((9, 13), torch.float32)
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm.print_readable(print_output=False))
        return gm.forward

    def step(pred, target):
        return asymmetric_loss_single_label(pred, target, gamma_pos=1.0, reduction=reduction)

    compiled_pred, eager_pred = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    loss = torch.compile(step, backend=backend, fullgraph=True)(compiled_pred, target)
    expected = step(eager_pred, target)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-7)
    grad_output = torch.rand(expected.shape, device=DEVICE) + 0.5
    loss.backward(grad_output)
    expected.backward(grad_output)
    torch.testing.assert_close(compiled_pred.grad, eager_pred.grad, rtol=1e-6, atol=1e-7)
    assert len(graphs) == 1 and 'asl_single_label_forward' in graphs[0]
