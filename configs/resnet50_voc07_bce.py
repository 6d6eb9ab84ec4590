# The binary cross-entropy baseline of resnet50_voc07_asl.py: the only difference is
# model.head.loss.
_base_ = './resnet50_voc07_asl.py'
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,  # ASLoss's gammas and clip must not leak into CrossEntropyLoss
            type='CrossEntropyLoss',
            use_sigmoid=True,
            loss_weight=1.0)))
