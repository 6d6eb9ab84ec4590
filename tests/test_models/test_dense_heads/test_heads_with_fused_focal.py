"""FusedFocalLoss inside MMDetection's RetinaNet, ATSS and FCOS heads (issue 27): the focal
head's losses with the loss type changed; on the CPU, the heads' loss calls with bfloat16
logits (autocast) and under ``torch.compile`` (the reference path, one graph per call where
torch traces it: not torch 2.1), each against MMDetection's FocalLoss in float64 on the same
inputs."""
import pytest
import torch

from mmdet.models.losses import FocalLoss
from tests.test_models.test_dense_heads.heads import (FOCAL, assert_reproduces_focal_head,
                                                      build_head, gt, head_losses)
from tests.test_ops.helpers import ONE_GRAPH, TOLERANCES

FUSED_FOCAL = dict(FOCAL, type='FusedFocalLoss')


def recorded_loss_calls(head):
    """Record every call of ``head.loss_cls``: its inputs and its output."""
    calls = []
    head.loss_cls.register_forward_hook(
        lambda module, args, kwargs, out: calls.append((args, kwargs, out)), with_kwargs=True)
    return calls


def cls_conv(head):
    return head.retina_cls if hasattr(head, 'retina_cls') else head.atss_cls


def assert_calls_match_focal_float64(head, calls, rtol):
    """Each call's loss and its gradient with respect to its logits against MMDetection's
    FocalLoss on the same logits and targets in float64 (within ``rtol``, and an absolute
    ``rtol`` times the largest gradient), and the classifier's gradient finite. One backward
    pass through the calls (a compiled backward runs once)."""
    assert calls
    preds = [args[0] for args, _, _ in calls]
    *grads, weight_grad = torch.autograd.grad(sum(out for _, _, out in calls),
                                              preds + [cls_conv(head).weight])
    for ((pred, target, weight), kwargs, out), grad in zip(calls, grads):
        x = pred.detach().double().requires_grad_()
        oracle = FocalLoss()(x, target, weight.double(), **kwargs)
        oracle.backward()
        assert out.dtype == grad.dtype == pred.dtype
        torch.testing.assert_close(out.double(), oracle.detach(), rtol=rtol, atol=0)
        torch.testing.assert_close(grad.double(), x.grad, rtol=rtol,
                                   atol=rtol * x.grad.abs().max().item())
    assert torch.isfinite(weight_grad).all() and weight_grad.abs().sum() > 0


@pytest.mark.parametrize('head_name', ['atss', 'retina', 'fcos'])
def test_fused_focal_reproduces_focal_head(head_name):
    """The focal config with type='FusedFocalLoss': the same losses and gradients."""
    assert type(build_head(head_name, FUSED_FOCAL).loss_cls).__name__ == 'FusedFocalLoss'
    assert_reproduces_focal_head(head_name, FUSED_FOCAL)


@pytest.mark.parametrize('head_name', ['retina', 'atss'])
def test_head_loss_with_bfloat16_logits(head_name):
    """CPU autocast: the head computes bfloat16 logits; each FPN level's loss (math in float32,
    result in bfloat16) and its gradient match float64 within bfloat16's tolerance."""
    head = build_head(head_name, FUSED_FOCAL)
    calls = recorded_loss_calls(head)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        head_losses(head, gt(empty=False))
    assert {args[0].dtype for args, _, _ in calls} == {torch.bfloat16}
    assert_calls_match_focal_float64(head, calls, TOLERANCES[torch.bfloat16][0])


@pytest.mark.parametrize('head_name', ['retina', 'atss'])
def test_head_loss_under_torch_compile(head_name, fresh_dynamo):
    """The loss call compiled (the CPU reference path; with ``fullgraph=True``, one graph with
    no host synchronisation in it, where torch traces it: :data:`ONE_GRAPH`) gives float64's
    loss and gradient per FPN level."""
    head = build_head(head_name, FUSED_FOCAL)
    head.loss_cls.forward = torch.compile(head.loss_cls.forward, backend='aot_eager',
                                          fullgraph=ONE_GRAPH)
    calls = recorded_loss_calls(head)
    head_losses(head, gt(empty=False))
    assert_calls_match_focal_float64(head, calls, 1e-5)
