# DINO-4scale R50 12e COCO with the Asymmetric Loss in place of FocalLoss. The only difference
# from dino-4scale_r50_focal.py is model.bbox_head.loss_cls (tests/test_configs checks it): the
# Hungarian matcher keeps its FocalLossCost, so both siblings match queries alike.
# The setting and its reasons: configs/README.md ("DINO").
_base_ = './dino-4scale_r50_focal.py'
model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True,  # FocalLoss's gamma must not leak into ASLoss
            type='ASLoss',
            use_sigmoid=True,
            gamma_pos=1.0,
            gamma_neg=2.0,
            clip=0.0,
            alpha=0.25,
            loss_weight=1.0)))
