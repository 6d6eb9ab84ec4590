# Fine-grained single-label classification on CUB-200-2011 (200 bird species) with the
# single-label (softmax) Asymmetric Loss: mmpretrain's ResNet-50 recipe (ImageNet-21k
# pre-training, 448x448, 8 GPUs x 8 images) with the official ASLSingleLabel defaults
# (gamma_pos=0, gamma_neg=4, label smoothing 0.1).
# Sibling that differs only in model.head.loss: resnet50_cub_ce-ls.py (label-smoothed
# cross-entropy, the same loss with gamma_pos = gamma_neg = 0).
_base_ = 'mmpretrain::resnet/resnet50_8xb8_cub.py'
custom_imports = dict(imports=['asl_mmdet'], allow_failed_imports=False)

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,  # the base's CrossEntropyLoss arguments must not leak in
            type='ASLSingleLabelLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            label_smoothing=0.1,
            loss_weight=1.0)))
