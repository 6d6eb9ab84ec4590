# RetinaNet R50-FPN 1x COCO with FusedFocalLoss: retinanet_r50_focal.py with the loss type changed
# and nothing else (FocalLoss's arguments and defaults are FusedFocalLoss's; tests/test_configs
# checks the difference). The fused kernel computes the focal loss where mmcv's op can not run:
# bfloat16 logits on CUDA, torch.compile.
_base_ = './retinanet_r50_focal.py'
model = dict(bbox_head=dict(loss_cls=dict(type='FusedFocalLoss')))
