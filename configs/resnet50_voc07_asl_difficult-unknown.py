# resnet50_voc07_asl.py with the labels of difficult objects unknown in training: a class that an
# image has only as difficult objects is -1 in the loss target (no loss, no gradient) instead of a
# negative (mmpretrain's VOC dataset leaves it out of gt_label). UnknownLabelsToScore builds the
# dense gt_score (1 / 0 / -1) from gt_label and gt_label_difficult; PackInputs packs it and
# MultiLabelLinearClsHead hands it to the loss, which must ignore -1 (ASLoss does). The metrics
# ignore the same labels: VOCAveragePrecision / VOCMultiLabelMetric with
# difficult_as_positive=None (their default, as in the parent; set here for the reader).
# The train pipeline is the recipe's (./_base_/ml_resnet50_448_official.py, ml_train_pipeline)
# with the transform before PackInputs; a test checks it.
_base_ = ['./resnet50_voc07_asl.py']

num_classes = 20
image_size = 448
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(image_size, image_size)),
        dict(type='Cutout', shape=image_size // 2, prob=1.0, pad_val=128),
        dict(
            type='RandAugment',
            policies='timm_increasing',
            num_policies=2,
            total_level=10,
            magnitude_level=9,
            magnitude_std=0.5,
            hparams=dict(pad_val=[128, 128, 128], interpolation='bilinear')),
        dict(type='UnknownLabelsToScore', num_classes=num_classes,
             unknown_key='gt_label_difficult'),
        dict(type='PackInputs'),
    ]))

val_evaluator = [
    dict(type='VOCAveragePrecision', difficult_as_positive=None),
    dict(type='VOCMultiLabelMetric', average='macro', difficult_as_positive=None),
    dict(type='VOCMultiLabelMetric', average='micro', difficult_as_positive=None),
    dict(type='VOCMultiLabelMetric', average='macro', topk=3, difficult_as_positive=None),
    dict(type='VOCMultiLabelMetric', average='micro', topk=3, difficult_as_positive=None),
]
test_evaluator = val_evaluator
