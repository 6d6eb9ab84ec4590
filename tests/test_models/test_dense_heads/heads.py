"""The small ATSS, RetinaNet and FCOS heads of the head tests (mirrors mmdet's head tests), their
losses on generated features, MMDetection's focal loss config, and the check that a loss
config reproduces the focal head."""
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

import asl_mmdet  # noqa: F401  (registers the losses)
from mmdet.models.dense_heads import ATSSHead, FCOSHead, RetinaHead

S = 256
IMG_METAS = [{'img_shape': (S, S, 3), 'pad_shape': (S, S, 3), 'scale_factor': 1}]
FOCAL = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)


def build_head(name, loss_cls):
    torch.manual_seed(0)
    common = dict(num_classes=4, in_channels=1, feat_channels=1, stacked_convs=1,
                  norm_cfg=None, loss_cls=loss_cls)
    if name == 'atss':
        return ATSSHead(
            train_cfg=ConfigDict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1,
                                 pos_weight=-1, debug=False),
            anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8,
                                  scales_per_octave=1, strides=[8, 16, 32, 64, 128]),
            loss_bbox=dict(type='GIoULoss', loss_weight=2.0), **common)
    if name == 'retina':
        return RetinaHead(
            train_cfg=ConfigDict(
                assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                              min_pos_iou=0, ignore_iof_thr=-1),
                sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                debug=False),
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                  scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                  strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                            target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0), **common)
    return FCOSHead(**common)


def head_losses(head, gt_instances):
    feats = [torch.rand(1, 1, S // s, S // s, generator=torch.Generator().manual_seed(s))
             for s in [8, 16, 32, 64, 128]]
    outs = head.forward(feats)
    losses = head.loss_by_feat(*outs, [gt_instances], IMG_METAS)
    return {k: sum(v) if isinstance(v, (list, tuple)) else v for k, v in losses.items()}


def gt(empty):
    instances = InstanceData()
    instances.bboxes = torch.empty((0, 4)) if empty else torch.Tensor(
        [[23.6667, 23.8757, 238.6326, 151.8874]])
    instances.labels = torch.LongTensor([] if empty else [2])
    return instances


def assert_reproduces_focal_head(head_name, loss_cls):
    """The head with ``loss_cls`` gives the focal head's classification loss and gradients
    (every parameter's) on the same features and ground truth."""
    results = []
    for cfg in (FOCAL, loss_cls):
        head = build_head(head_name, cfg)
        losses = head_losses(head, gt(empty=False))
        losses['loss_cls'].backward()
        results.append((losses['loss_cls'].detach(),
                        [p.grad.clone() for p in head.parameters() if p.grad is not None]))
    (focal, focal_grads), (ours, our_grads) = results
    torch.testing.assert_close(ours, focal, rtol=1e-5, atol=1e-7)
    assert len(our_grads) == len(focal_grads) > 0
    for a, f in zip(our_grads, focal_grads):
        torch.testing.assert_close(a, f, rtol=1e-4, atol=1e-7)
