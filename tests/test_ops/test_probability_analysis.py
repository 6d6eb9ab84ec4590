"""The probability analysis' sums (paper Eq. 9-10) against a float64 hand computation.

The sums come from the reference (from the probabilities it computes for the loss), from the
fused kernel (accumulated in the loss's pass; under ``TRITON_INTERPRET=1`` without a GPU) and
from :func:`probability_sums` (from logits, for other losses); the oracle is
:func:`tests.asl_oracle.probability_sums_f64`.
"""
import pytest
import torch

from asl_mmdet.ops import (PROB_SUM_NAMES, asymmetric_loss, asymmetric_loss_ref, probability_gap,
                           probability_sums)
from asl_mmdet.ops.dispatch import IMPL_ENV
from tests.asl_oracle import probability_sums_f64
from tests.test_ops.helpers import kernels_skip_reason

CUDA = torch.cuda.is_available()
DEVICE = 'cuda' if CUDA else 'cpu'
SHAPE = (13, 37)
WEIGHTS = [None, 'n', 'n1', 'nc', 'nc_with_zeros']


def fused_module():
    """The Triton module, or a skip: it needs a Triton that compiles the kernels and, without a
    GPU, the interpreter."""
    reason = kernels_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    from asl_mmdet.ops import fused
    return fused


def make_inputs(shape, target_kind, weight_kind, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, c = shape
    pred = torch.randn(n, c, generator=g) * 3
    if target_kind == 'index':
        target = torch.randint(0, c + 1, (n, ), generator=g)  # c = background
        target[:2] = c  # background rows for sure
    elif target_kind == 'multi_hot':
        target = (torch.rand(n, c, generator=g) < 0.3).float()
    else:  # soft labels, with exact 0 and 1 too
        target = torch.rand(n, c, generator=g)
        target[:, ::3] = target[:, ::3].round()
    weight = None
    if weight_kind is not None:
        weight = torch.rand(n, c, generator=g) + 0.1
        if weight_kind == 'n':
            weight = weight[:, 0]
        elif weight_kind == 'n1':
            weight = weight[:, :1]
        elif weight_kind == 'nc_with_zeros':  # ignored anchors / elements
            weight[::2] = 0
            weight[:, 5] = 0
    if target.dtype.is_floating_point:
        target = target.to(dtype)
    return (pred.to(dtype).to(DEVICE), target.to(DEVICE),
            None if weight is None else weight.to(DEVICE))


def ref_sums(pred, target, weight, **kwargs):
    return asymmetric_loss_ref(pred, target, weight, return_prob_sums=True, **kwargs)


def fused_sums(pred, target, weight, **kwargs):
    return fused_module().asymmetric_loss_fused(pred, target, weight, return_prob_sums=True,
                                                **kwargs)


def standalone_sums(pred, target, weight, **kwargs):
    return pred.new_zeros(()), probability_sums(pred, target, weight)


IMPLS = {'ref': ref_sums, 'fused': fused_sums, 'standalone': standalone_sums}


@pytest.mark.parametrize('impl', list(IMPLS))
@pytest.mark.parametrize('weight_kind', WEIGHTS)
@pytest.mark.parametrize('target_kind', ['index', 'multi_hot', 'soft'])
def test_sums_match_hand_computation(impl, weight_kind, target_kind):
    pred, target, weight = make_inputs(SHAPE, target_kind, weight_kind)
    _, sums = IMPLS[impl](pred, target, weight)
    oracle = probability_sums_f64(pred, target, weight)
    assert sums.dtype == torch.float32 and sums.shape == (4, ) and not sums.requires_grad
    torch.testing.assert_close(sums.double().cpu(), oracle, rtol=2e-6, atol=1e-6)
    if weight_kind == 'nc_with_zeros':  # zero weights drop out of the denominators
        assert oracle[1] + oracle[3] < pred.numel() / 2
    p_pos, p_neg, gap = probability_gap(sums)
    torch.testing.assert_close(p_pos.double().cpu(), oracle[0] / oracle[1], rtol=2e-6, atol=0)
    torch.testing.assert_close(p_neg.double().cpu(), oracle[2] / oracle[3], rtol=2e-6, atol=0)
    torch.testing.assert_close(gap.double().cpu(), oracle[0] / oracle[1] - oracle[2] / oracle[3],
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize('target_kind', ['index', 'soft'])
def test_reference_in_float64_is_exact(target_kind):
    pred, target, weight = make_inputs(SHAPE, target_kind, 'nc', dtype=torch.float64)
    _, sums = ref_sums(pred, target, weight)
    assert sums.dtype == torch.float64
    torch.testing.assert_close(sums.cpu(), probability_sums_f64(pred, target, weight),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('impl', ['ref', 'fused'])
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_logits_give_float32_sums(impl, dtype):
    pred, target, weight = make_inputs(SHAPE, 'index', 'n', dtype=dtype)
    _, sums = IMPLS[impl](pred, target, weight)
    assert sums.dtype == torch.float32
    torch.testing.assert_close(sums.double().cpu(), probability_sums_f64(pred, target, weight),
                               rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize('impl', list(IMPLS))
@pytest.mark.parametrize('weight_kind', [None, 'n1', 'nc'])
@pytest.mark.parametrize('target_kind', ['multi_hot', 'soft'])
def test_ignored_labels_drop_out_of_the_sums(impl, weight_kind, target_kind):
    """A label of -1 adds nothing to any of the four sums: the oracle with weight 0 there."""
    pred, target, weight = make_inputs(SHAPE, target_kind, weight_kind)
    ignored = torch.rand(SHAPE, generator=torch.Generator().manual_seed(5)) < 0.3
    ignored[:, 2] = True
    ignored = ignored.to(DEVICE)
    _, sums = IMPLS[impl](pred, target.masked_fill(ignored, -1.0), weight)
    keep = (~ignored).double().cpu()
    zero_weight = keep if weight is None else keep * weight.double().cpu().reshape(SHAPE[0], -1)
    oracle = probability_sums_f64(pred, target.masked_fill(ignored, 0.0), zero_weight)
    torch.testing.assert_close(sums.double().cpu(), oracle, rtol=2e-6, atol=1e-6)
    unignored = probability_sums_f64(pred, target, weight)
    assert oracle[1] + oracle[3] < 0.8 * (unignored[1] + unignored[3])


@pytest.mark.parametrize('impl', ['ref', 'fused'])
@pytest.mark.parametrize('weight_kind', [None, 'n1', 'nc'])
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
def test_class_weight_weights_the_sums(impl, weight_kind, target_kind):
    """class_weight multiplies each column's weight in the sums, as in the loss."""
    pred, target, weight = make_inputs(SHAPE, target_kind, weight_kind)
    class_weight = [0.0 if c % 4 == 0 else 0.5 + c / SHAPE[1] for c in range(SHAPE[1])]
    _, sums = IMPLS[impl](pred, target, weight, class_weight=class_weight)
    full = torch.tensor(class_weight, dtype=torch.float64).expand(SHAPE)
    if weight is not None:
        full = full * weight.double().cpu().reshape(SHAPE[0], -1)
    torch.testing.assert_close(sums.double().cpu(), probability_sums_f64(pred, target, full),
                               rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize('impl', ['ref', 'fused'])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_tracking_leaves_loss_and_gradient_unchanged(impl, reduction):
    pred, target, weight = make_inputs(SHAPE, 'index', 'nc')
    kwargs = dict(gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction=reduction)
    results = []
    for track in (False, True):
        x = pred.clone().requires_grad_()
        if track:
            loss, _ = IMPLS[impl](x, target, weight, **kwargs)
        elif impl == 'ref':
            loss = asymmetric_loss_ref(x, target, weight, **kwargs)
        else:
            loss = fused_module().asymmetric_loss_fused(x, target, weight, **kwargs)
        (loss.sum() * 2.0).backward()
        results.append((loss.detach(), x.grad))
    (loss, grad), (tracked_loss, tracked_grad) = results
    torch.testing.assert_close(tracked_loss, loss, rtol=1e-6, atol=0)
    torch.testing.assert_close(tracked_grad, grad, rtol=1e-6, atol=0)


@pytest.mark.parametrize('target_kind', ['index', 'soft'])
def test_fused_partials_over_split_columns_are_deterministic(target_kind, monkeypatch):
    """Several programs per row block: their partials add up to the oracle, bit-identically
    from run to run."""
    fused = fused_module()
    shape = (3, 90001) if CUDA else (5, 2000)
    if not CUDA:
        monkeypatch.setattr(fused, '_SPLIT_MIN_ELEMENTS', 0)
    assert fused._forward_config(*shape)[3][1] > 1
    pred, target, weight = make_inputs(shape, target_kind, 'nc')
    runs = [fused_sums(pred, target, weight, reduction='sum')[1] for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    torch.testing.assert_close(runs[0].double().cpu(), probability_sums_f64(pred, target, weight),
                               rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize('impl', list(IMPLS))
def test_empty_input_gives_zero_sums(impl):
    pred = torch.randn(0, 5, device=DEVICE)
    _, sums = IMPLS[impl](pred, torch.zeros(0, dtype=torch.long, device=DEVICE), None)
    assert torch.equal(sums.cpu(), torch.zeros(4))
    assert torch.isnan(probability_gap(sums)[2])


def test_standalone_takes_probabilities_when_activated():
    pred, target, weight = make_inputs(SHAPE, 'index', 'nc')
    sums = probability_sums(torch.sigmoid(pred), target, weight, activated=True)
    torch.testing.assert_close(sums.double().cpu(), probability_sums_f64(pred, target, weight),
                               rtol=2e-6, atol=1e-6)


def test_torch_compile_with_sums_has_no_graph_break(monkeypatch):
    fused_module()
    monkeypatch.setenv(IMPL_ENV, 'triton')
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 5).to(DEVICE)
    x = torch.randn(32, 16, device=DEVICE)
    target = torch.randint(0, 6, (32, ), device=DEVICE)

    def step(x, target):
        loss, sums = asymmetric_loss(model(x), target, gamma_pos=1.0, return_prob_sums=True)
        return loss, sums

    compiled = torch.compile(step, backend='inductor' if CUDA else 'aot_eager', fullgraph=True)
    (loss, sums), (ref_loss, ref_sums_) = compiled(x, target), step(x, target)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sums, ref_sums_, rtol=1e-5, atol=1e-5)
    loss.backward()
    assert model.weight.grad is not None


def test_probability_gap_by_hand():
    p_pos, p_neg, gap = probability_gap(torch.tensor([3.0, 4.0, 1.0, 5.0], dtype=torch.float64))
    assert (p_pos.item(), p_neg.item()) == (0.75, 0.2)
    assert gap.item() == pytest.approx(0.55, abs=1e-15)
    assert torch.isnan(probability_gap(torch.tensor([0.0, 0.0, 1.0, 5.0]))[0])
    assert len(PROB_SUM_NAMES) == 4


@pytest.mark.parametrize('sums', [torch.zeros(3), torch.zeros(4, dtype=torch.long), [1, 2, 3, 4]])
def test_probability_gap_rejects_bad_sums(sums):
    with pytest.raises(ValueError, match='sums must be'):
        probability_gap(sums)


def test_bad_arguments_are_named():
    pred, target, _ = make_inputs((3, 4), 'index', None)
    with pytest.raises(TypeError, match="return_prob_sums must be a bool, got 'yes'"):
        asymmetric_loss(pred, target, return_prob_sums='yes')
    with pytest.raises(ValueError, match=r'target.*\[0, 4\].*got 5'):
        probability_sums(pred, torch.tensor([0, 5, 1], device=DEVICE))
    with pytest.raises(ValueError, match='weight must have shape'):
        probability_sums(pred, target, torch.ones(4, device=DEVICE))
    with pytest.raises(TypeError, match="activated must be a bool, got 'no'"):
        probability_sums(pred, target, activated='no')
