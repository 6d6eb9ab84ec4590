"""ASLoss inside MMDetection's DINO and Deformable DETR heads: the matching part of every decoder
layer, the encoder's proposals (two-stage) and DINO's denoising queries all call loss_cls with
class indices (N,) where num_classes is background, label weights (N,) and a one-element tensor
avg_factor (sync_cls_avg_factor=True, DINO's) or a float."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

import asl_mmdet  # noqa: F401  (registers ASLoss)
from mmdet.models.dense_heads import DeformableDETRHead, DINOHead

C = 4  # classes
LAYERS = 3  # decoder layers
QUERIES = 10  # matching queries
GROUPS = 3  # denoising groups: 2 queries (positive, negative) per object each
S = 128
IMG_METAS = [{'img_shape': (S, S), 'pad_shape': (S, S), 'batch_input_shape': (S, S)}] * 2
FOCAL = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)
ASL_AS_FOCAL = dict(type='ASLoss', use_sigmoid=True, gamma_pos=2.0, gamma_neg=2.0, clip=0.0,
                    alpha=0.25, loss_weight=1.0)
ASL_DINO = dict(type='ASLoss', use_sigmoid=True, gamma_pos=1.0, gamma_neg=2.0, clip=0.0,
                alpha=0.25, loss_weight=1.0)  # configs/dino-4scale_r50_asl.py
ASL_MARGIN = dict(type='ASLoss', use_sigmoid=True, gamma_pos=0.0, gamma_neg=4.0, clip=0.05,
                  detach_focal_weight=True)


def build_head(head_type, loss_cls, sync_cls_avg_factor=True):
    torch.manual_seed(0)
    head = head_type(
        num_classes=C, embed_dims=16, sync_cls_avg_factor=sync_cls_avg_factor,
        num_pred_layer=LAYERS + 1, as_two_stage=True, loss_cls=loss_cls,
        train_cfg=ConfigDict(assigner=dict(type='HungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0),
            dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])))
    head.init_weights()
    return head


def gts():
    first = InstanceData(bboxes=torch.tensor([[10., 12., 60., 70.], [70., 20., 120., 90.]]),
                         labels=torch.tensor([1, 3]))
    second = InstanceData(bboxes=torch.tensor([[30., 30., 100., 110.]]),
                          labels=torch.tensor([0]))
    return [first, second]


def head_losses(head, dino):
    """The head's losses on fixed hidden states; DINO's outputs hold the denoising queries
    first (2 per object of the batch's largest image, per group)."""
    torch.manual_seed(1)
    dn_queries = 2 * 2 * GROUPS if dino else 0
    hidden = torch.randn(LAYERS, 2, dn_queries + QUERIES, head.embed_dims)
    references = [torch.rand(2, dn_queries + QUERIES, 4) * 0.5 + 0.25
                  for _ in range(LAYERS + 1)]
    cls_scores, bbox_preds = head(hidden, references)
    enc_cls = head.cls_branches[LAYERS](torch.randn(2, QUERIES, head.embed_dims))
    enc_box = torch.rand(2, QUERIES, 4) * 0.5 + 0.25
    args = (cls_scores, bbox_preds, enc_cls, enc_box, gts(), IMG_METAS)
    if dino:
        args += (dict(num_denoising_queries=dn_queries, num_denoising_groups=GROUPS), )
    return head.loss_by_feat(*args)


@pytest.mark.parametrize('head_type', [DINOHead, DeformableDETRHead])
@pytest.mark.parametrize('sync', [True, False])
def test_loss_cls_calls_are_class_indices(head_type, sync):
    """Every loss_cls call of the heads takes the form ASLoss takes: (N,) class indices in
    [0, C] with C background, (N,) weights, and avg_factor: the number of matched queries,
    averaged over ranks in a one-element tensor (sync_cls_avg_factor) or a float."""
    head = build_head(head_type, ASL_DINO, sync_cls_avg_factor=sync)
    calls = []
    head.loss_cls.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append((args, kwargs)), with_kwargs=True)
    losses = head_losses(head, dino=head_type is DINOHead)
    # the last layer, LAYERS - 1 intermediate ones, the encoder; DINO: LAYERS denoising ones
    assert len(calls) == (2 * LAYERS + 1 if head_type is DINOHead else LAYERS + 1)
    for (pred, target, weight), kwargs in calls:
        assert pred.shape[1] == C and target.dtype == torch.int64
        assert target.shape == weight.shape == (pred.shape[0], )
        assert 0 <= target.min() and target.max() == C  # every call holds background rows
        avg_factor = kwargs['avg_factor']
        if sync:
            assert isinstance(avg_factor, torch.Tensor) and avg_factor.shape == (1, )
        else:
            assert isinstance(avg_factor, float)
    cls_losses = [v for k, v in losses.items() if k.endswith('loss_cls')]
    assert len(cls_losses) == len(calls)
    assert all(torch.isfinite(v).all() and v.item() > 0 for v in cls_losses)


@pytest.mark.parametrize('head_type', [DINOHead, DeformableDETRHead])
@pytest.mark.parametrize('loss_cls', [ASL_DINO, ASL_MARGIN])
def test_loss_by_feat_with_asl(head_type, loss_cls):
    head = build_head(head_type, loss_cls)
    assert type(head.loss_cls).__module__ == 'asl_mmdet.models.losses.asymmetric_loss'
    assert head.cls_out_channels == C  # sigmoid: no background column
    losses = head_losses(head, dino=head_type is DINOHead)
    assert all(torch.isfinite(v).all() for v in losses.values())
    sum(v.sum() for k, v in losses.items() if k.endswith('loss_cls')).backward()
    grad = head.cls_branches[LAYERS - 1].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize('head_type', [DINOHead, DeformableDETRHead])
def test_asl_configured_as_focal_reproduces_focal_head(head_type):
    """gamma_pos = gamma_neg = 2, clip = 0, alpha = 0.25: every loss of the head (matching,
    encoder, denoising) and every gradient are those of MMDetection's FocalLoss."""
    results = []
    for loss_cls in (FOCAL, ASL_AS_FOCAL):
        head = build_head(head_type, loss_cls)
        losses = head_losses(head, dino=head_type is DINOHead)
        sum(v.sum() for v in losses.values()).backward()
        results.append((losses, [p.grad.clone() for p in head.parameters()
                                 if p.grad is not None]))
    (focal, focal_grads), (asl, asl_grads) = results
    assert asl.keys() == focal.keys()
    for key in focal:
        assert asl[key].shape == focal[key].shape, key
        torch.testing.assert_close(asl[key], focal[key], rtol=1e-5, atol=1e-7, msg=key)
    assert len(asl_grads) == len(focal_grads) > 0
    for a, f in zip(asl_grads, focal_grads):
        torch.testing.assert_close(a, f, rtol=1e-4, atol=1e-7)
