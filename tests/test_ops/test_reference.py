"""The plain-PyTorch Asymmetric Loss against independent float64 oracles."""
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from asl_mmdet.ops import asymmetric_loss
from tests.asl_oracle import asl_official, asl_paper, reduce_like_mmdet
from tests.test_ops.helpers import (ONE_GRAPH, PARAMS, REDUCTIONS, WEIGHTS, class_weights,
                                    check_exact_zeros_below_margin,
                                    check_extreme_logits_stay_finite, loss_and_grad, make_inputs,
                                    make_weight, with_ignored)

SHAPES = [(41, 1271), (7, 3), (1, 1), (0, 80)]


@pytest.mark.parametrize('params', PARAMS)
@pytest.mark.parametrize('target_kind', ['multi_hot', 'index', 'soft'])
@pytest.mark.parametrize('detach', [False, True])
def test_matches_paper_eq7(params, target_kind, detach):
    gamma_pos, gamma_neg, clip, alpha = params
    pred, target, dense = make_inputs((41, 1271), target_kind)
    kwargs = dict(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, alpha=alpha)
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss(x, target, detach_focal_weight=detach, **kwargs), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: asl_paper(x, dense, detach=detach, **kwargs).mean(), pred)
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize('params', [p for p in PARAMS if p[3] is None])
@pytest.mark.parametrize('detach', [False, True])
def test_matches_official_implementation(params, detach):
    gamma_pos, gamma_neg, clip, _ = params
    pred, target, dense = make_inputs((41, 1271), 'multi_hot')
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss(x, target, gamma_pos=gamma_pos, gamma_neg=gamma_neg,
                                  clip=clip, detach_focal_weight=detach, reduction='sum'),
        pred)
    ref, ref_grad = loss_and_grad(
        lambda x: asl_official(x, dense, gamma_pos, gamma_neg, clip, detach=detach).sum(), pred)
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('weight_kind', WEIGHTS)
@pytest.mark.parametrize('reduction,avg_factor', REDUCTIONS)
@pytest.mark.parametrize('target_kind', ['multi_hot', 'index'])
def test_weights_and_reductions(shape, weight_kind, reduction, avg_factor, target_kind):
    pred, target, dense = make_inputs(shape, target_kind)
    weight = make_weight(weight_kind, *shape)
    if avg_factor == 'tensor':
        avg_factor = torch.tensor(12.25, dtype=torch.float64)
    kwargs = dict(gamma_pos=1.0, gamma_neg=4.0, clip=0.05)
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss(x, target, weight, reduction=reduction,
                                  avg_factor=avg_factor, loss_weight=0.7, **kwargs), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: 0.7 * reduce_like_mmdet(asl_paper(x, dense, **kwargs), weight, reduction,
                                          avg_factor), pred)
    if pred.numel() == 0 and reduction == 'mean' and avg_factor is None:
        ref = torch.zeros((), dtype=torch.float64)  # mean of nothing is 0, not NaN
        ref_grad = torch.zeros_like(pred)
    assert loss.shape == ref.shape
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('detach', [False, True])
def test_index_targets_equal_one_hot(dtype, detach):
    pred, target, dense = make_inputs((41, 1271), 'index', dtype=dtype)
    weight = make_weight('n', 41, 1271).to(dtype)
    kwargs = dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.1, alpha=0.3, detach_focal_weight=detach,
                  avg_factor=20.0)
    loss, grad = loss_and_grad(lambda x: asymmetric_loss(x, target, weight, **kwargs), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: asymmetric_loss(x, dense.to(dtype), weight, **kwargs), pred)
    torch.testing.assert_close(loss, ref, rtol=0, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=0, atol=0)


@pytest.mark.parametrize('params', PARAMS)
def test_float32_against_float64_oracle(params):
    gamma_pos, gamma_neg, clip, alpha = params
    pred, target, dense = make_inputs((41, 1271), 'multi_hot', dtype=torch.float32)
    kwargs = dict(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, alpha=alpha)
    loss, grad = loss_and_grad(lambda x: asymmetric_loss(x, target, **kwargs), pred)
    ref, ref_grad = loss_and_grad(lambda x: asl_paper(x, dense, **kwargs).mean(), pred.double())
    assert loss.dtype == grad.dtype == torch.float32
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('weight_kind', WEIGHTS)
def test_zero_gammas_no_clip_is_bce_with_logits(reduction, weight_kind):
    pred, target, _ = make_inputs((41, 1271), 'soft')
    weight = make_weight(weight_kind, 41, 1271)
    bce_weight = weight.view(-1, 1) if weight_kind == 'n' else weight
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss(x, target, weight, gamma_pos=0, gamma_neg=0, clip=0,
                                  reduction=reduction), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: F.binary_cross_entropy_with_logits(x, target, bce_weight, reduction=reduction),
        pred)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize('gamma', [0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_symmetric_gammas_no_clip_is_focal_loss(gamma, reduction):
    pred, target, _ = make_inputs((41, 1271), 'multi_hot')
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss(x, target, gamma_pos=gamma, gamma_neg=gamma, clip=0,
                                  reduction=reduction), pred)
    ref, ref_grad = loss_and_grad(
        lambda x: sigmoid_focal_loss(x, target, alpha=-1, gamma=gamma, reduction=reduction),
        pred)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize('gamma_neg', [0.0, 1.0, 4.0])
@pytest.mark.parametrize('detach', [False, True])
def test_negatives_below_margin_give_exact_zeros(gamma_neg, detach):
    check_exact_zeros_below_margin(asymmetric_loss, 'cpu', gamma_neg, detach)


@pytest.mark.parametrize('clip,expected', [(0.05, 3.80845 / 3), (None, 5.1186 / 3)])
def test_mmpretrain_published_values(clip, expected):
    """mmpretrain's ``test_asymmetric_loss`` numbers (gamma_pos=1, gamma_neg=4)."""
    cls_score = torch.Tensor([[5, -5, 0], [5, -5, 0]])
    label = torch.Tensor([[1, 0, 1], [0, 1, 0]])
    kwargs = dict(gamma_pos=1.0, gamma_neg=4.0, clip=clip, reduction='mean')
    assert torch.allclose(asymmetric_loss(cls_score, label, **kwargs), torch.tensor(expected))
    if clip is not None:
        weight = torch.tensor([0.5, 0.5])
        assert torch.allclose(
            asymmetric_loss(cls_score, label, weight, **kwargs), torch.tensor(3.80845 / 6))


@pytest.mark.parametrize('params', [(0.0, 4.0, 0.05), (1.0, 2.0, 0.2), (2.0, 3.0, 0.0),
                                    (0.5, 1.5, 0.0)])
@pytest.mark.parametrize('target_kind', ['multi_hot', 'index', 'soft'])
def test_gradcheck_full_gradient(params, target_kind):
    gamma_pos, gamma_neg, clip = params
    pred, target, _ = make_inputs((6, 5), target_kind, seed=3)
    weight = make_weight('nc', 6, 5)
    pred.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: asymmetric_loss(x, target, weight, gamma_pos=gamma_pos, gamma_neg=gamma_neg,
                                  clip=clip, reduction='sum'), (pred, ))
    assert torch.autograd.gradcheck(
        lambda x: asymmetric_loss(x, target, gamma_pos=gamma_pos, gamma_neg=gamma_neg,
                                  clip=clip, reduction='none'), (pred, ))


@pytest.mark.parametrize('params', [(0.0, 4.0, 0.05), (1.0, 2.0, 0.2), (2.0, 3.0, 0.0)])
@pytest.mark.parametrize('target_kind', ['multi_hot', 'index'])
def test_gradcheck_detached_focal_weight(params, target_kind):
    """With the focusing weights held constant the gradient is not the derivative of the
    loss, so gradcheck runs on ``asl_detached(x) + [paper(x) - paper_detached(x)]``: the bracket
    is 0 in value and carries (full - detached) gradient, so finite differences of the true
    loss match the analytic side only if our detached gradient is right."""
    gamma_pos, gamma_neg, clip = params
    pred, target, dense = make_inputs((6, 5), target_kind, seed=4)
    pred.requires_grad_()
    kwargs = dict(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip)

    def fn(x):
        correction = asl_paper(x, dense, **kwargs) - asl_paper(x, dense, detach=True, **kwargs)
        return asymmetric_loss(x, target, detach_focal_weight=True, reduction='none',
                               **kwargs) + correction

    assert torch.autograd.gradcheck(fn, (pred, ))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('clip', [0.0, 0.05])
def test_extreme_logits_stay_finite(dtype, clip):
    check_extreme_logits_stay_finite(asymmetric_loss, 'cpu', dtype, clip)


@pytest.mark.parametrize('dtype,rtol', [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
def test_half_precision_inputs_computed_in_float32(dtype, rtol):
    """Math in fp32: the error against the fp64 oracle is that of rounding the inputs and the
    output, not of fp16 arithmetic (the official eps=1e-8 clamp is 0 in fp16 and gives NaN)."""
    pred, target, dense = make_inputs((41, 1271), 'multi_hot', dtype=dtype)
    loss, grad = loss_and_grad(lambda x: asymmetric_loss(x, target, reduction='sum'), pred)
    ref, ref_grad = loss_and_grad(lambda x: asl_paper(x, dense, 0.0, 4.0, 0.05).sum(),
                                  pred.double())
    assert loss.dtype == grad.dtype == dtype
    torch.testing.assert_close(loss.double(), ref, rtol=rtol, atol=0)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=rtol, atol=2 * rtol * 1e-2)


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_empty_input_gives_zero_that_backpropagates(reduction):
    pred = torch.randn(0, 80, requires_grad=True)
    loss = asymmetric_loss(pred, torch.zeros(0, dtype=torch.long), reduction=reduction)
    assert loss.sum().item() == 0
    loss.sum().backward()
    assert pred.grad.shape == (0, 80)


@pytest.mark.parametrize('target_kind', ['index', 'multi_hot'])
def test_compiled_steps_follow_changing_shapes_and_avg_factor(target_kind, fresh_dynamo):
    """Under ``torch.compile`` (one graph, ``fullgraph=True``, where torch traces it:
    :data:`~tests.test_ops.helpers.ONE_GRAPH`) the steps of a training run: the number of
    anchors and ``avg_factor`` (the number of positives) change from step to step, and Dynamo
    traces them as symbols after the first recompilation (no host check reads them there);
    every step equals the eager loss and gradient."""

    def step(x, target, weight, avg_factor):
        return asymmetric_loss(x, target, weight, gamma_pos=1.0, gamma_neg=4.0, clip=0.05,
                               alpha=0.25, avg_factor=avg_factor)

    compiled = torch.compile(step, backend='aot_eager', fullgraph=ONE_GRAPH)
    for index, avg_factor in enumerate([3.0, 5.0, 7.5, 11.0]):
        num = 40 + 8 * index
        pred, target, _ = make_inputs((num, 7), target_kind, torch.float32, seed=index)
        weight = make_weight('n', num, 7, dtype=torch.float32)
        expected, expected_grad = loss_and_grad(lambda x: step(x, target, weight, avg_factor),
                                                pred)
        actual, actual_grad = loss_and_grad(lambda x: compiled(x, target, weight, avg_factor),
                                            pred)
        torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(actual_grad, expected_grad, rtol=1e-6, atol=1e-8)


def test_no_grad_needed():
    pred, target, dense = make_inputs((9, 4), 'index')
    with torch.no_grad():
        loss = asymmetric_loss(pred.requires_grad_(), target)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, asl_paper(pred, dense, 0.0, 4.0, 0.05).mean())


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(gamma_pos=-1.0), ValueError, 'gamma_pos'),
    (dict(gamma_neg=-0.5), ValueError, 'gamma_neg'),
    (dict(gamma_neg=float('nan')), ValueError, 'gamma_neg'),
    (dict(gamma_neg='4'), TypeError, 'gamma_neg'),
    (dict(clip=-0.1), ValueError, 'clip'),
    (dict(clip=1.0), ValueError, 'clip'),
    (dict(eps=0.0), ValueError, 'eps'),
    (dict(eps=-1e-8), ValueError, 'eps'),
    (dict(alpha=1.5), ValueError, 'alpha'),
    (dict(reduction='avg'), ValueError, "reduction.*'avg'"),
    (dict(reduction='sum', avg_factor=4.0), ValueError, 'avg_factor'),
])
def test_bad_arguments(kwargs, error, match):
    pred, target, _ = make_inputs((4, 3), 'index')
    with pytest.raises(error, match=match):
        asymmetric_loss(pred, target, **kwargs)


@pytest.mark.parametrize('target,weight,error,match', [
    (torch.zeros(4, 3, dtype=torch.bool), None, TypeError, 'target.*torch.bool'),
    (torch.zeros(4, 2), None, ValueError, r'target.*\(4, 3\).*\(4, 2\)'),
    (torch.zeros(5, dtype=torch.long), None, ValueError, r'target.*\(4,\).*\(5,\)'),
    (torch.tensor([0, 1, 4, 2]), None, ValueError, r'class indices.*\[0, 3\].*got 4'),
    (torch.tensor([0, -1, 3, 2]), None, ValueError, r'class indices.*got -1'),
    (torch.full((4, 3), 1.5), None, ValueError, r'labels.*\[0, 1\].*got 1.5'),
    (torch.tensor([0, 1, 3, 2]), torch.ones(4, 2), ValueError, r'weight.*\(4, 2\)'),
    (torch.tensor([0, 1, 3, 2]), torch.ones(3), ValueError, r'weight.*\(3,\)'),
    (torch.tensor([0, 1, 3, 2]), [1.0] * 4, TypeError, 'weight'),
])
def test_bad_inputs(target, weight, error, match):
    pred = torch.randn(4, 3)
    with pytest.raises(error, match=match):
        asymmetric_loss(pred, target, weight)


@pytest.mark.parametrize('pred,error,match', [
    (torch.zeros(4, 3, dtype=torch.long), TypeError, 'pred.*floating'),
    (torch.zeros(4, 3, 2), ValueError, r'pred.*\(N, C\).*\(4, 3, 2\)'),
])
def test_bad_pred(pred, error, match):
    with pytest.raises(error, match=match):
        asymmetric_loss(pred, torch.zeros(4, dtype=torch.long))


@pytest.mark.parametrize('weight_kind', WEIGHTS)
@pytest.mark.parametrize('reduction,avg_factor', REDUCTIONS)
@pytest.mark.parametrize('target_kind', ['multi_hot', 'soft'])
def test_ignored_labels_equal_zero_weight(weight_kind, reduction, avg_factor, target_kind):
    """A label of -1 gives the loss of label 0 with weight 0 there, and the float64 oracle's
    value; avg_factor and the mean's numel are unchanged by it; the gradient there is 0."""
    shape = (41, 127)
    pred, target, dense = make_inputs(shape, target_kind)
    ignoring, zeroed, keep = with_ignored(target)
    weight = make_weight(weight_kind, *shape)
    zero_weight = keep if weight is None else keep * (weight.view(-1, 1) if weight.dim() == 1
                                                      else weight)
    if avg_factor == 'tensor':
        avg_factor = torch.tensor(12.25, dtype=torch.float64)
    kwargs = dict(gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction=reduction,
                  avg_factor=avg_factor, loss_weight=0.7)
    loss, grad = loss_and_grad(lambda x: asymmetric_loss(x, ignoring, weight, **kwargs), pred)
    zero, zero_grad = loss_and_grad(
        lambda x: asymmetric_loss(x, zeroed, zero_weight, **kwargs), pred)
    oracle, oracle_grad = loss_and_grad(
        lambda x: 0.7 * reduce_like_mmdet(asl_paper(x, zeroed, 1.0, 4.0, 0.05), zero_weight,
                                          reduction, avg_factor), pred)
    torch.testing.assert_close(loss, zero, rtol=1e-14, atol=0)
    torch.testing.assert_close(grad, zero_grad, rtol=1e-14, atol=0)
    torch.testing.assert_close(loss, oracle, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, oracle_grad, rtol=1e-9, atol=1e-15)
    assert torch.all(grad[ignoring == -1] == 0)
    if reduction == 'none':
        assert torch.all(loss[ignoring == -1] == 0)


def test_ignored_labels_ignore_their_logits():
    """An ignored element's logit does not matter, not even a NaN or an infinite one."""
    pred, target, _ = make_inputs((9, 6), 'multi_hot')
    ignoring, _, keep = with_ignored(target)
    count = int((keep == 0).sum())
    specials = torch.tensor([float('nan'), float('inf'), -float('inf'), 1e4], dtype=pred.dtype)
    wild = pred.clone()
    wild[keep == 0] = specials.repeat(count // 4 + 1)[:count]
    for reduction in ('none', 'sum'):
        loss, grad = loss_and_grad(lambda x: asymmetric_loss(x, ignoring, reduction=reduction),
                                   pred)
        wild_loss, wild_grad = loss_and_grad(
            lambda x: asymmetric_loss(x, ignoring, reduction=reduction), wild)
        assert torch.equal(loss, wild_loss) and torch.equal(grad, wild_grad)


@pytest.mark.parametrize('weight_kind', WEIGHTS)
@pytest.mark.parametrize('reduction,avg_factor', [('none', None), ('mean', None),
                                                  ('mean', 37.5), ('sum', None)])
@pytest.mark.parametrize('target_kind', ['index', 'soft'])
def test_class_weight_matches_oracle(weight_kind, reduction, avg_factor, target_kind):
    """class_weight multiplies each column on top of weight: the (N, C) weight path and the
    float64 oracle give the same loss and gradient."""
    shape = (41, 127)
    pred, target, dense = make_inputs(shape, target_kind)
    weight = make_weight(weight_kind, *shape)
    cw = class_weights(shape[1])
    cw_tensor = torch.tensor(cw, dtype=torch.float64)
    full = cw_tensor.expand(shape) if weight is None else (
        (weight.view(-1, 1) if weight.dim() == 1 else weight) * cw_tensor)
    kwargs = dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.1, alpha=0.3, reduction=reduction,
                  avg_factor=avg_factor)
    loss, grad = loss_and_grad(
        lambda x: asymmetric_loss(x, target, weight, class_weight=cw, **kwargs), pred)
    same, same_grad = loss_and_grad(lambda x: asymmetric_loss(x, target, full, **kwargs), pred)
    oracle, oracle_grad = loss_and_grad(
        lambda x: reduce_like_mmdet(asl_paper(x, dense, 1.0, 2.0, 0.1, 0.3), full, reduction,
                                    avg_factor), pred)
    torch.testing.assert_close(loss, same, rtol=1e-14, atol=0)
    torch.testing.assert_close(grad, same_grad, rtol=1e-14, atol=0)
    torch.testing.assert_close(loss, oracle, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, oracle_grad, rtol=1e-9, atol=1e-15)
    assert torch.all(grad[:, ::5] == 0)  # classes of weight 0
