# Multi-label COCO with ASLoss configured as binary cross-entropy (gamma_pos = gamma_neg = 0,
# clip = 0): the same loss as resnet50_coco-ml_bce.py, computed by asl_mmdet. `make demo-cls`
# trains it beside the BCE run as the calibration: its difference from BCE is the noise floor.
_base_ = './resnet50_coco-ml_asl.py'
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,  # detach_focal_weight is moot without a focusing weight
            type='ASLoss',
            use_sigmoid=True,
            gamma_pos=0.0,
            gamma_neg=0.0,
            clip=0.0,
            loss_weight=1.0)))
