"""Heads whose classification targets are IoU quality scores, not labels, with ASLoss in place
of their loss: GFL, RTMDet and TOOD pass a (labels, scores) tuple and ASLoss rejects it with an
error naming that form; VarifocalNet passes (N, C) IoU scores, which ASLoss takes as soft labels.

Each head is MMDetection's COCO config's, narrowed, with loss_cls replaced as a config with
``loss_cls=dict(_delete_=True, type='ASLoss', ...)`` replaces it."""
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

import asl_mmdet  # noqa: F401  (registers ASLoss)
from mmdet.registry import MODELS

S = 256
CHANNELS = 32  # GroupNorm's 32 groups
ASL = dict(type='ASLoss', use_sigmoid=True, gamma_pos=1.0, gamma_neg=2.0, clip=0.02,
           alpha=0.25)
QUALITY_HEADS = {
    'GFLHead': 'gfl/gfl_r50_fpn_1x_coco.py',
    'RTMDetSepBNHead': 'rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
    'TOODHead': 'tood/tood_r50_fpn_1x_coco.py',
}


def build_head_with_asl(config):
    model = Config.fromstring(f"_base_ = 'mmdet::{config}'\n", '.py').model
    head_cfg = model.bbox_head
    head_cfg.pop('loss_cls')
    head_cfg.update(num_classes=4, in_channels=CHANNELS, feat_channels=CHANNELS,
                    stacked_convs=1, loss_cls=ASL, train_cfg=model.train_cfg,
                    test_cfg=model.test_cfg)
    torch.manual_seed(0)
    return MODELS.build(head_cfg)


def head_losses(head):
    feats = [torch.rand(1, CHANNELS, S // s, S // s, generator=torch.Generator().manual_seed(s))
             for s in [8, 16, 32, 64, 128]]
    gt = InstanceData(bboxes=torch.tensor([[20., 24., 200., 150.]]), labels=torch.tensor([2]))
    metas = [{'img_shape': (S, S), 'pad_shape': (S, S), 'batch_input_shape': (S, S),
              'scale_factor': 1}]
    return head.loss_by_feat(*head(feats), [gt], metas)


@pytest.mark.parametrize('head_type', QUALITY_HEADS)
def test_quality_target_heads_reject_asl(head_type):
    head = build_head_with_asl(QUALITY_HEADS[head_type])
    assert type(head).__name__ == head_type
    if head_type == 'TOODHead':  # FocalLoss on labels until initial_epoch, then loss_cls
        MessageHub.get_instance('tood_after_initial_epoch').update_info(
            'epoch', head.initial_epoch)
    with pytest.raises(TypeError, match=r'ASLoss takes class indices \(N,\) or \(N, C\) labels '
                       r'as target; got a tuple \(Tensor \(\d+,\), Tensor \(\d+,\)\): the '
                       r'\(labels, scores\) targets of GFLHead, RTMDetHead and TOODHead for '
                       r'QualityFocalLoss'):
        head_losses(head)


def test_asl_rejects_tuple_target_directly():
    pred, labels = torch.randn(5, 3), torch.tensor([0, 3, 1, 3, 2])
    with pytest.raises(TypeError, match=r'got a list \(Tensor \(5,\), Tensor \(5,\)\)'):
        MODELS.build(ASL)(pred, [labels, torch.rand(5)])


def test_vfnet_iou_targets_are_taken_as_soft_labels():
    """VarifocalNet's (N, C) targets are the IoU of each positive's box at its class (0
    elsewhere), a float in (0, 1]: ASLoss's contract accepts them as soft labels, so the head
    trains without an error, though not with VarifocalNet's loss (which weights a positive by
    its IoU target instead of focusing it). configs/README.md and README.md say so."""
    head = build_head_with_asl('vfnet/vfnet_r50_fpn_1x_coco.py')
    targets = []
    head.loss_cls.register_forward_pre_hook(lambda module, args: targets.append(args[1]))
    losses = head_losses(head)
    (target, ) = targets
    assert target.dtype.is_floating_point and target.dim() == 2
    positive = target[target > 0]
    assert len(positive) > 0 and (positive < 1).all()  # IoU scores, not 0/1 labels
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
