# ATSS R50-FPN 1x COCO with ASLoss configured as focal loss (gamma_pos = gamma_neg = 2, clip = 0,
# alpha = 0.25): the same loss as atss_r50_focal.py, computed by asl_mmdet. The first step of the
# ASL authors' advice for detectors (reproduce focal loss, then add asymmetry); `make demo` shows
# it reproduces the focal run.
_base_ = './atss_r50_focal.py'
model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True,
            type='ASLoss',
            use_sigmoid=True,
            gamma_pos=2.0,
            gamma_neg=2.0,
            clip=0.0,
            alpha=0.25,
            loss_weight=1.0)))
