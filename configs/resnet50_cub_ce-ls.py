# The label-smoothed cross-entropy baseline of resnet50_cub_asl-single-label.py: mmpretrain's
# CUB-200-2011 ResNet-50 recipe with LabelSmoothLoss (0.1); the only difference is
# model.head.loss.
_base_ = 'mmpretrain::resnet/resnet50_8xb8_cub.py'
custom_imports = dict(imports=['asl_mmdet'], allow_failed_imports=False)

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            num_classes=200,  # LabelSmoothLoss needs it for class-index labels
            mode='original',
            loss_weight=1.0)))
