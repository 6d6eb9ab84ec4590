"""The fused Triton Asymmetric Loss against the plain-PyTorch reference.

On CUDA the kernels run compiled, at full sizes; without a GPU they run on the CPU under
Triton's interpreter (``TRITON_INTERPRET=1``, set by ``conftest.py``) on a few small shapes.
The oracle is :func:`asymmetric_loss_ref`; values and gradients must be within
flash-attention's criterion: the error against the float64 reference at most twice the
reference's own error in the same dtype (plus a few ulps of the largest value).
"""
import functools

import pytest
import torch

from tests.test_ops.helpers import skip_without_kernels

skip_without_kernels()

from asl_mmdet.ops import (AsymmetricLossRefFunction, asymmetric_loss,  # noqa: E402
                           asymmetric_loss_ref, fused)
from asl_mmdet.ops.dispatch import IMPL_ENV, use_fused  # noqa: E402
from asl_mmdet.ops.fused import AsymmetricLossTritonFunction, asymmetric_loss_fused  # noqa: E402
from tests.test_ops import helpers  # noqa: E402
from tests.test_ops.helpers import (PARAMS, REDUCTIONS, TOLERANCES, WEIGHTS,  # noqa: E402
                                    assert_matches_reference, check_exact_zeros_below_margin,
                                    check_extreme_logits_stay_finite, loss_and_grad)
from tests.run_utils import run_python  # noqa: E402

CUDA = torch.cuda.is_available()
DEVICE = 'cuda' if CUDA else 'cpu'
CUDA_ONLY = pytest.mark.skipif(not CUDA, reason='large shape: CUDA only (slow in the '
                               'interpreter)')
SHAPES = [(1, 1), (41, 1271), (0, 80), (7, 3)] + [
    pytest.param(shape, marks=CUDA_ONLY) for shape in [(44800, 80), (128, 9605), (358400, 80)]
]
# the option tables: the odd shape on CUDA, smaller ones in the interpreter
OPTIONS_SHAPE = (41, 1271) if CUDA else (13, 37)
WEIGHTS_SHAPE = (41, 1271) if CUDA else (29, 83)
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


# inputs drawn in float32 (the reference's tests draw them in float64), on the kernel's device
make_inputs = functools.partial(helpers.make_inputs, draw_dtype=torch.float32, device=DEVICE)
make_weight = functools.partial(helpers.make_weight, dtype=torch.float32, device=DEVICE)


def check_against_reference(pred, fn, gradient=None):
    """``fn(x, impl)`` with impl the fused or the reference loss, on ``pred`` and in float64."""
    out, grad = loss_and_grad(lambda x: fn(x, asymmetric_loss_fused), pred, gradient)
    ref, ref_grad = loss_and_grad(lambda x: fn(x, asymmetric_loss_ref), pred, gradient)
    oracle, oracle_grad = loss_and_grad(lambda x: fn(x, asymmetric_loss_ref), pred.double(),
                                        None if gradient is None else gradient.double())
    assert_matches_reference(out, ref, oracle)
    assert_matches_reference(grad, ref_grad, oracle_grad)
    return out, grad


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('target_kind', ['index', 'multi_hot', 'soft'])
def test_shapes_and_dtypes(shape, dtype, target_kind):
    pred, target, _ = make_inputs(shape, target_kind, dtype)
    check_against_reference(
        pred, lambda x, impl: impl(x, target, gamma_pos=1.0, gamma_neg=4.0, clip=0.05))


@pytest.mark.parametrize('params', PARAMS)
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
@pytest.mark.parametrize('detach', [False, True])
def test_options(params, target_kind, detach):
    gamma_pos, gamma_neg, clip, alpha = params
    pred, target, _ = make_inputs(OPTIONS_SHAPE, target_kind)
    check_against_reference(
        pred, lambda x, impl: impl(x, target, gamma_pos=gamma_pos, gamma_neg=gamma_neg,
                                   clip=clip, alpha=alpha, detach_focal_weight=detach,
                                   reduction='none'))


@pytest.mark.parametrize('weight_kind', WEIGHTS)
@pytest.mark.parametrize('reduction,avg_factor', REDUCTIONS)
@pytest.mark.parametrize('target_kind', ['index', 'multi_hot'])
def test_weights_and_reductions(weight_kind, reduction, avg_factor, target_kind):
    shape = WEIGHTS_SHAPE
    pred, target, _ = make_inputs(shape, target_kind)
    weight = make_weight(weight_kind, *shape)
    if avg_factor == 'tensor':
        avg_factor = torch.tensor(12.25, device=DEVICE)
    out, _ = check_against_reference(
        pred, lambda x, impl: impl(x, target, weight, gamma_pos=1.0, gamma_neg=4.0, clip=0.05,
                                   reduction=reduction, avg_factor=avg_factor,
                                   loss_weight=0.7))
    assert out.shape == (shape if reduction == 'none' else ())


@pytest.mark.parametrize('layout', ['transposed', 'sliced', 'strided_labels_and_weights',
                                    'expanded_weight'])
def test_non_contiguous_inputs(layout):
    n, c = 41, 127
    base, target, _ = make_inputs((n + 3, 2 * c + 5), 'soft')
    weight = make_weight('nc', n, c)
    if layout == 'transposed':  # strides (1, N)
        pred = make_inputs((c, n), 'index')[0].t()
        target = target[:n, :c].contiguous()
    elif layout == 'sliced':  # row stride 2C + 5
        pred, target = base[1:n + 1, 3:c + 3], target[:n, :c].contiguous()
    elif layout == 'strided_labels_and_weights':
        pred, target = base[:n, :c].contiguous(), target[2:n + 2, 1::2][:, :c]
        weight = make_weight('nc', n, 2 * c)[:, ::2]
    else:  # a weight per class, expanded over rows: strides (0, 1)
        pred, target = base[:n, :c].contiguous(), target[:n, :c].contiguous()
        weight = make_weight('nc', 1, c).expand(n, c)
    assert not (pred.is_contiguous() and target.is_contiguous() and weight.is_contiguous())
    check_against_reference(pred, lambda x, impl: impl(x, target, weight, gamma_pos=1.0))
    row_weight = make_weight('nc', 2 * n, 2)[::2, :1]  # (N, 1) with row stride 4
    check_against_reference(pred, lambda x, impl: impl(x, target, row_weight))


@pytest.mark.parametrize('target_kind', ['index', 'soft'])
def test_columns_split_across_programs(target_kind, monkeypatch):
    if CUDA:
        shape = (3, 90001)
    else:  # the interpreter is slow: split a small problem
        shape = (5, 2000)
        monkeypatch.setattr(fused, '_SPLIT_MIN_ELEMENTS', 0)
    assert fused._forward_config(*shape)[3][1] > 1
    pred, target, _ = make_inputs(shape, target_kind)
    weight = make_weight('nc', *shape)
    check_against_reference(
        pred, lambda x, impl: impl(x, target, weight, gamma_pos=1.0, reduction='sum'))


@pytest.mark.parametrize('mode', ['one', 'scalar', 'expanded_one', 'expanded', 'elementwise',
                                  'elementwise_strided'])
def test_backward_grad_output(mode):
    """grad_output 1 (no work), a scalar, one expanded to (N, C) (``loss.sum()``), or (N, C)."""
    shape = (41, 1271)
    pred, target, _ = make_inputs(shape, 'index')
    reduction = 'mean' if mode in ('one', 'scalar') else 'none'
    gradient = {
        'one': torch.tensor(1.0),
        'scalar': torch.tensor(2.5),
        'expanded_one': torch.tensor(1.0).expand(shape),
        'expanded': torch.tensor(-3.0).expand(shape),
        'elementwise': torch.rand(shape),
        'elementwise_strided': torch.rand(shape[::-1]).t(),
    }[mode].to(DEVICE)
    check_against_reference(
        pred, lambda x, impl: impl(x, target, gamma_pos=1.0, reduction=reduction), gradient)


@pytest.mark.parametrize('factor,expected', [(1.0, 1.0), (0.5, 0.5), (-2.0, -2.0)])
def test_scale_grad_in_place(factor, expected):
    grad = torch.linspace(-1, 1, 9 * 7, device=DEVICE).view(9, 7)
    before = grad.clone()
    fused.scale_grad_(grad, torch.tensor(factor, device=DEVICE))
    torch.testing.assert_close(grad, before * expected, rtol=0, atol=0)


def test_run_twice_is_bit_identical():
    shape = (358400, 80) if CUDA else (41, 1271)
    pred, target, _ = make_inputs(shape, 'index')
    weight = make_weight('n', shape[0], shape[1])
    runs = [
        loss_and_grad(lambda x: asymmetric_loss_fused(x, target, weight, gamma_pos=1.0), pred)
        for _ in range(2)
    ]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize('reduce,scale', [(True, 0.25), (False, 1.5)])
def test_function_matches_reference_function(reduce, scale):
    pred, target, _ = make_inputs((41, 1271), 'index')
    weight = make_weight('n1', 41, 1271)
    args = (target, weight, 1.0, 4.0, 0.05, 0.25, False, reduce, scale)
    out, grad = loss_and_grad(lambda x: AsymmetricLossTritonFunction.apply(x, *args), pred)
    ref, ref_grad = loss_and_grad(lambda x: AsymmetricLossRefFunction.apply(x, *args), pred)
    oracle, oracle_grad = loss_and_grad(lambda x: AsymmetricLossRefFunction.apply(x, *args),
                                        pred.double())
    assert_matches_reference(out, ref, oracle)
    assert_matches_reference(grad, ref_grad, oracle_grad)


@pytest.mark.parametrize('gamma_neg', [0.0, 1.0, 4.0])
@pytest.mark.parametrize('detach', [False, True])
def test_negatives_below_margin_give_exact_zeros(gamma_neg, detach):
    check_exact_zeros_below_margin(asymmetric_loss_fused, DEVICE, gamma_neg, detach)


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('clip', [0.0, 0.05])
def test_extreme_logits_stay_finite(dtype, clip):
    check_extreme_logits_stay_finite(asymmetric_loss_fused, DEVICE, dtype, clip)


@pytest.mark.parametrize('params', PARAMS)
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
@pytest.mark.parametrize('detach', [False, True])
def test_nan_logits_give_nan_loss_and_gradient(params, target_kind, detach):
    """A diverged network must not look healthy: a NaN logit gives a NaN loss and a NaN
    gradient at its element, in a negative, a positive and a soft-labelled column alike, with
    and without a margin (issue 11: ``max(NaN - m, 0)`` is 0 in Triton)."""
    gamma_pos, gamma_neg, clip, alpha = params
    pred, target, _ = make_inputs((6, 7), target_kind)
    if target_kind == 'index':
        target = torch.tensor([2, 0, 7, 5, 3, 1], device=DEVICE)  # row 2: background
        nans = [(0, 4), (1, 0), (2, 6), (3, 5)]  # negatives of rows 0 and 2, labelled 1 and 3
    else:
        target[0, 4], target[1, 0], target[3, 5] = 0.0, 1.0, 0.25
        nans = [(0, 4), (1, 0), (3, 5)]  # a negative, a positive, a soft label
    for row, col in nans:
        pred[row, col] = float('nan')
    kwargs = dict(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, alpha=alpha,
                  detach_focal_weight=detach)
    for reduction in ('none', 'mean'):
        loss, grad = loss_and_grad(
            lambda x: asymmetric_loss_fused(x, target, reduction=reduction, **kwargs), pred)
        ref, ref_grad = loss_and_grad(
            lambda x: asymmetric_loss_ref(x, target, reduction=reduction, **kwargs), pred)
        expected = torch.zeros_like(pred, dtype=torch.bool)
        for row, col in nans:
            expected[row, col] = True
        assert torch.equal(torch.isnan(ref_grad), expected)  # the oracle's own pattern
        assert torch.equal(torch.isnan(grad), expected)
        if reduction == 'none':
            assert torch.equal(torch.isnan(loss), expected)
        else:
            assert torch.isnan(loss) and torch.isnan(ref)


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_empty_input_gives_zero_that_backpropagates(reduction):
    pred = torch.randn(0, 80, device=DEVICE, requires_grad=True)
    loss = asymmetric_loss_fused(pred, torch.zeros(0, dtype=torch.long, device=DEVICE),
                                 reduction=reduction)
    assert loss.shape == ((0, 80) if reduction == 'none' else ())
    assert loss.sum().item() == 0
    loss.sum().backward()
    assert pred.grad.shape == (0, 80)


def test_no_grad_needed():
    pred, target, _ = make_inputs((9, 4), 'index')
    ref = asymmetric_loss_ref(pred, target)
    with torch.no_grad():
        loss = asymmetric_loss_fused(pred.requires_grad_(), target)
    assert not loss.requires_grad
    loss_constant = asymmetric_loss_fused(pred.detach(), target)
    assert loss_constant.grad_fn is None
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(loss_constant, ref)


def test_second_backward_raises():
    pred, target, _ = make_inputs((7, 3), 'index')
    loss = asymmetric_loss_fused(pred.requires_grad_(), target)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='once per forward'):
        loss.backward()


@pytest.mark.parametrize('impl', ['ref', 'triton', '', 'auto'])
def test_dispatch(impl, monkeypatch):
    monkeypatch.setenv(IMPL_ENV, impl)
    pred, target, _ = make_inputs((7, 3), 'index')
    fused_expected = impl == 'triton' or (impl != 'ref' and CUDA)
    assert use_fused(pred) == fused_expected
    loss = asymmetric_loss(pred.requires_grad_(), target)
    expected = AsymmetricLossTritonFunction if fused_expected else AsymmetricLossRefFunction
    assert type(loss.grad_fn).__name__ == expected.__name__ + 'Backward'
    assert not use_fused(pred.double()) or impl == 'triton'


def test_dispatch_rejects_unknown_impl(monkeypatch):
    monkeypatch.setenv(IMPL_ENV, 'cuda')
    with pytest.raises(ValueError, match=f"{IMPL_ENV}.*'cuda'"):
        asymmetric_loss(*make_inputs((7, 3), 'index')[:2])


def test_float64_is_refused():
    pred, target, _ = make_inputs((7, 3), 'index', torch.float64)
    with pytest.raises(TypeError, match='float64'):
        asymmetric_loss_fused(pred, target)


@pytest.mark.skipif(CUDA, reason='on CUDA a device-side assert: see the subprocess test')
@pytest.mark.parametrize('target', [torch.tensor([0, 4, 1]), torch.tensor([0, -1, 1]),
                                    torch.full((3, 3), 1.5), torch.full((3, 3), -0.5),
                                    torch.tensor([[0.0, float('nan'), 1.0]] * 3)])
def test_out_of_range_labels_fail_on_the_device_flag(target):
    pred = torch.randn(3, 3)
    with pytest.raises(ValueError, match=r'target.*\[0, (3|1)\]'):  # the entry point, on CPU
        asymmetric_loss_fused(pred, target)
    with pytest.raises(RuntimeError, match='target class indices must be in'):  # the kernel
        AsymmetricLossTritonFunction.apply(pred, target, None, 0.0, 4.0, 0.05, None, False,
                                           True, 1.0)


@pytest.mark.skipif(not CUDA, reason='device-side assert: CUDA only')
def test_out_of_range_labels_trigger_a_device_assert():
    code = ('import torch; from asl_mmdet.ops.fused import '
            'asymmetric_loss_fused as f; '
            'loss = f(torch.randn(3, 3, device="cuda"), torch.tensor([0, 4, 1], device="cuda")); '
            'torch.cuda.synchronize()')
    result = run_python('-c', code, timeout=300)
    assert result.returncode != 0
    assert 'device-side assert' in result.stderr or 'must be in' in result.stderr


def test_autocast_accepts_half_logits():
    dtype = torch.float16 if CUDA else torch.bfloat16
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 5).to(DEVICE)
    x = torch.randn(32, 16, device=DEVICE)
    target = torch.randint(0, 6, (32, ), device=DEVICE)
    results = []
    for impl in (asymmetric_loss_fused, asymmetric_loss_ref):
        model.zero_grad()
        with torch.autocast(DEVICE, dtype=dtype):
            logits = model(x)
            assert logits.dtype == dtype
            loss = impl(logits, target, gamma_pos=1.0)
        loss.backward()
        results.append((loss.detach(), model.weight.grad.clone()))
    (out, grad), (ref, ref_grad) = results
    assert out.dtype == dtype
    rtol = TOLERANCES[dtype][0]
    torch.testing.assert_close(out, ref, rtol=rtol, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=rtol, atol=rtol * ref_grad.abs().max())


@pytest.mark.parametrize('labels', ['index', 'dense, ignored, class weight'])
def test_torch_compile_has_no_graph_break(monkeypatch, labels):
    """The whole step is one graph; on CUDA Inductor compiles it with the kernels inside."""
    monkeypatch.setenv(IMPL_ENV, 'triton')
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 5).to(DEVICE)
    x = torch.randn(32, 16, device=DEVICE)
    if labels == 'index':
        target, extra = torch.randint(0, 6, (32, ), device=DEVICE), {}
    else:
        target = (torch.rand(32, 5, device=DEVICE) < 0.3).float()
        target[::3, 1] = -1
        extra = dict(class_weight=[1.0, 0.5, 2.0, 0.0, 1.5])

    def step(x, target):
        return asymmetric_loss(model(x), target, gamma_pos=1.0, reduction='sum', **extra) * 0.5

    compiled = torch.compile(step, backend='inductor' if CUDA else 'aot_eager', fullgraph=True)
    results = []
    for fn in (compiled, step):
        model.zero_grad()
        loss = fn(x, target)
        loss.backward()
        results.append((loss.detach(), model.weight.grad.clone()))
    (out, grad), (ref, ref_grad) = results
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-6)


def test_float16_gradients_survive_loss_scaling():
    """A float16 gradient gets the mean's 1 / N in backward, together with grad_output (a
    GradScaler's factor), so forward does not flush its small values to zero."""
    pred, target, _ = make_inputs((41, 1271), 'index', torch.float16)
    scaler = torch.tensor(2.0**14, device=DEVICE)
    _, grad = loss_and_grad(lambda x: asymmetric_loss_fused(x, target), pred, scaler)
    _, oracle = loss_and_grad(lambda x: asymmetric_loss_ref(x, target), pred.double(),
                              scaler.double())
    assert grad.dtype == torch.float16
    subnormal = torch.finfo(torch.float16).tiny * torch.finfo(torch.float16).eps
    torch.testing.assert_close(grad.double(), oracle, rtol=1e-3, atol=subnormal)


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('weight_kind', [None, 'n1', 'nc'])
@pytest.mark.parametrize('reduction,avg_factor', REDUCTIONS)
def test_ignored_labels_equal_zero_weight(dtype, weight_kind, reduction, avg_factor):
    """A label of -1 gives what label 0 with weight 0 gives (the float64 oracle), in the
    reference's error bounds; the kernel's gradient there is exactly 0."""
    shape = (13, 37)
    pred, target, _ = make_inputs(shape, 'soft', dtype)
    ignoring, zeroed, keep = helpers.with_ignored(target)
    weight = make_weight(weight_kind, *shape)
    zero_weight = keep.to(DEVICE, torch.float32) * (1 if weight is None else weight)
    if avg_factor == 'tensor':
        avg_factor = torch.tensor(12.25, device=DEVICE)
    kwargs = dict(gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction=reduction,
                  avg_factor=avg_factor, loss_weight=0.7)
    out, grad = loss_and_grad(lambda x: asymmetric_loss_fused(x, ignoring, weight, **kwargs),
                              pred)
    ref, ref_grad = loss_and_grad(lambda x: asymmetric_loss_ref(x, ignoring, weight, **kwargs),
                                  pred)
    oracle, oracle_grad = loss_and_grad(
        lambda x: asymmetric_loss_ref(x, zeroed, zero_weight, **kwargs), pred.double())
    assert_matches_reference(out, ref, oracle)
    assert_matches_reference(grad, ref_grad, oracle_grad)
    zero, zero_grad = loss_and_grad(
        lambda x: asymmetric_loss_fused(x, zeroed, zero_weight, **kwargs), pred)
    rtol, ulps = TOLERANCES[dtype]
    torch.testing.assert_close(out, zero, rtol=rtol, atol=ulps * torch.finfo(dtype).eps)
    torch.testing.assert_close(grad, zero_grad, rtol=rtol, atol=ulps * torch.finfo(dtype).eps)
    assert torch.all(grad[ignoring == -1] == 0)
    if reduction == 'none':
        assert torch.all(out[ignoring == -1] == 0)


def test_ignored_labels_ignore_their_logits():
    """An ignored element's logit does not matter to the kernel, not even a NaN."""
    pred, target, _ = make_inputs((9, 6), 'multi_hot')
    ignoring, _, keep = helpers.with_ignored(target)
    wild = pred.clone()
    wild[keep.to(DEVICE) == 0] = float('nan')
    for reduction in ('none', 'sum'):
        loss, grad = loss_and_grad(
            lambda x: asymmetric_loss_fused(x, ignoring, reduction=reduction), pred)
        wild_loss, wild_grad = loss_and_grad(
            lambda x: asymmetric_loss_fused(x, ignoring, reduction=reduction), wild)
        assert torch.equal(loss, wild_loss) and torch.equal(grad, wild_grad)


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('weight_kind', [None, 'n1', 'nc'])
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
@pytest.mark.parametrize('reduction', ['none', 'mean'])
def test_class_weight_equals_the_weight_path(dtype, weight_kind, target_kind, reduction):
    """class_weight on the kernel equals the reference with the equivalent (N, C) weight and
    the float64 oracle."""
    shape = (13, 37)
    pred, target, _ = make_inputs(shape, target_kind, dtype)
    weight = make_weight(weight_kind, *shape)
    cw = helpers.class_weights(shape[1])
    full = torch.tensor(cw, device=DEVICE) * (1 if weight is None else weight)
    kwargs = dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.02, alpha=0.25, reduction=reduction)
    out, grad = loss_and_grad(
        lambda x: asymmetric_loss_fused(x, target, weight, class_weight=cw, **kwargs), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: asymmetric_loss_ref(x, target, full.expand(shape), **kwargs), pred)
    oracle, oracle_grad = loss_and_grad(
        lambda x: asymmetric_loss_ref(x, target, weight, class_weight=cw, **kwargs),
        pred.double())
    assert_matches_reference(out, ref, oracle)
    assert_matches_reference(grad, ref_grad, oracle_grad)
    assert torch.all(grad[:, ::5] == 0)  # classes of weight 0


@pytest.mark.parametrize('weight_kind', [None, 'n1', 'nc'])
def test_class_weight_reaches_the_kernel_as_a_vector(weight_kind, monkeypatch):
    """No (N, C) copy: the host function gets the (C,) class weights and the weight as given."""
    shape = (13, 37)
    pred, target, _ = make_inputs(shape, 'index')
    weight = make_weight(weight_kind, *shape)
    seen = []

    def spy(*args, **kwargs):
        seen.append(args)
        return forward(*args, **kwargs)

    forward = fused.asl_forward_fused
    monkeypatch.setattr(fused, 'asl_forward_fused', spy)
    asymmetric_loss_fused(pred, target, weight, class_weight=helpers.class_weights(shape[1]))
    (args, ) = seen
    passed_weight, class_weight = args[2], args[13]
    assert class_weight.shape == (shape[1], ) and class_weight.dtype == torch.float32
    assert passed_weight is None if weight is None else passed_weight.numel() == weight.numel()


@pytest.mark.skipif(CUDA, reason='on CUDA a device-side assert: see the subprocess test')
@pytest.mark.parametrize('label', [-2.0, -0.5, 1.5, float('nan')])
def test_bad_dense_labels_beside_ignored_ones_fail_on_the_device_flag(label):
    """-1 is a label the kernel accepts; -2, -0.5, 1.5 and NaN still clear its flag."""
    pred = torch.randn(3, 3)
    target = torch.tensor([[0.0, -1.0, 1.0], [0.5, -1.0, -1.0], [1.0, 0.0, 0.0]])
    AsymmetricLossTritonFunction.apply(pred, target, None, 0.0, 4.0, 0.05, None, False, True,
                                       1.0)
    target[2, 1] = label
    with pytest.raises(RuntimeError, match=r'dense labels in \[0, 1\] or -1'):
        AsymmetricLossTritonFunction.apply(pred, target, None, 0.0, 4.0, 0.05, None, False,
                                           True, 1.0)


@pytest.fixture
def launches(monkeypatch):
    """The positional arguments of every kernel launch of the host functions, in order."""
    recorded = []

    class Recorder:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                recorded.append(args)
                return self.kernel[grid](*args, **kwargs)
            return launch

    monkeypatch.setattr(fused, 'launcher', lambda kernel, traced: Recorder(kernel))
    return recorded


@pytest.mark.parametrize('need_grad, prob_sums, weighted', [(False, False, False),
                                                             (True, False, True),
                                                             (True, True, False)])
def test_no_two_kernel_arguments_alias(need_grad, prob_sums, weighted, launches):
    """Issue 20, item 3: the forward kernel's tensor arguments are distinct memory (unused
    pointers get scratch tensors of their own, never another argument), whatever the variant:
    a compiler that counts every argument as written can not reorder aliased writes."""
    pred, target, _ = helpers.make_inputs((6, 5), 'index', torch.float32, device=DEVICE)
    weight = torch.rand(6, 1, device=DEVICE) if weighted else None
    fused.asl_forward_fused(pred, target, weight, 0.0, 4.0, 0.05, None, False, True, 1.0, 1.0,
                            need_grad, prob_sums)
    (args, ) = launches
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    assert len(tensors) == 8
    assert len({t.data_ptr() for t in tensors}) == 8


def test_transposed_grad_output_is_read_with_int32_column_offsets(launches, monkeypatch):
    """Issue 20, item 5: ``grad *= grad_output`` for a transposed (N, C) grad_output reads it
    at ``cols * stride``, which overflows int32 once N * C > 2**31: such a grad_output is
    copied first. The limit is lowered here so that a small tensor crosses it."""
    monkeypatch.setattr(fused, '_MAX_INT32', 100)
    grad = torch.rand(30, 9, device=DEVICE)
    grad_output = torch.rand(9, 30, device=DEVICE).t()  # strides (1, 30): 30 * 8 > 100
    expected = grad * grad_output
    fused.scale_grad_(grad, grad_output)
    torch.testing.assert_close(grad, expected)
    (args, ) = launches
    stride_n, stride_c = args[5], args[6]
    assert (stride_n, stride_c) == (9, 1)  # a contiguous copy
