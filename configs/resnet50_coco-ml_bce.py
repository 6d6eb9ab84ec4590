# The binary cross-entropy baseline of resnet50_coco-ml_asl.py: the only difference is
# model.head.loss (mmpretrain's multi-label default, CrossEntropyLoss with sigmoid).
_base_ = './resnet50_coco-ml_asl.py'
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,  # ASLoss's gammas and clip must not leak into CrossEntropyLoss
            type='CrossEntropyLoss',
            use_sigmoid=True,
            loss_weight=1.0)))
