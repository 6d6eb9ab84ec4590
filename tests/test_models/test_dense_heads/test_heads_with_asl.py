"""ASLoss inside MMDetection's ATSS, RetinaNet and FCOS heads (mirrors mmdet's head tests)."""
import pytest
import torch

from tests.test_models.test_dense_heads.heads import (assert_reproduces_focal_head, build_head, gt,
                                                      head_losses)

ASL_AS_FOCAL = dict(type='ASLoss', use_sigmoid=True, gamma_pos=2.0, gamma_neg=2.0, clip=0.0,
                    alpha=0.25, loss_weight=1.0)
ASL_PAPER = dict(type='ASLoss', use_sigmoid=True)  # gamma_pos=0, gamma_neg=4, clip=0.05
ASL_SHIFTED = dict(type='ASLoss', use_sigmoid=True, gamma_pos=1.0, gamma_neg=3.0, clip=0.0,
                   alpha=0.25, detach_focal_weight=True)


@pytest.mark.parametrize('head_name', ['atss', 'retina', 'fcos'])
@pytest.mark.parametrize('loss_cls', [ASL_PAPER, ASL_SHIFTED, ASL_AS_FOCAL])
def test_loss_by_feat_with_asl(head_name, loss_cls):
    head = build_head(head_name, loss_cls)
    assert type(head.loss_cls).__name__ == 'ASLoss'
    assert head.cls_out_channels == 4  # sigmoid: no background column

    empty = head_losses(head, gt(empty=True))
    assert all(torch.isfinite(v) for v in empty.values())
    assert empty['loss_bbox'].item() == 0
    # the paper's margin m = 0.05 discards negatives below the heads' 0.01 prior probability
    if loss_cls['type'] == 'ASLoss' and loss_cls.get('clip', 0.05) == 0:
        assert empty['loss_cls'].item() > 0

    head.zero_grad()
    one = head_losses(head, gt(empty=False))
    assert all(torch.isfinite(v) for v in one.values())
    assert one['loss_cls'].item() > 0 and one['loss_bbox'].item() > 0
    sum(one.values()).backward()
    cls_grad = head.atss_cls.weight.grad if head_name == 'atss' else (
        head.retina_cls.weight.grad if head_name == 'retina' else head.conv_cls.weight.grad)
    assert cls_grad is not None and torch.isfinite(cls_grad).all() and cls_grad.abs().sum() > 0


@pytest.mark.parametrize('head_name', ['atss', 'retina', 'fcos'])
def test_asl_configured_as_focal_reproduces_focal_head(head_name):
    """gamma_pos = gamma_neg = 2, clip = 0, alpha = 0.25: the same losses and gradients as
    MMDetection's FocalLoss in the same head."""
    assert_reproduces_focal_head(head_name, ASL_AS_FOCAL)
