# resnet50_voc07_asl.py with the labels of difficult objects unknown in training: a class that an
# image has only as difficult objects is -1 in the loss target (no loss, no gradient) instead of a
# negative (mmpretrain's VOC dataset leaves it out of gt_label). UnknownLabelsToScore builds the
# dense gt_score (1 / 0 / -1) from gt_label and gt_label_difficult; PackInputs packs it and
# MultiLabelLinearClsHead hands it to the loss, which must ignore -1 (ASLoss does). The metrics
# ignore the same labels: VOCAveragePrecision / VOCMultiLabelMetric with
# difficult_as_positive=None (their default, as in the parent; set here for the reader).
# The train pipeline is the recipe's (./_base_/ml_resnet50_448_official.py, ml_train_pipeline)
# with the transform before PackInputs.
_base_ = ['./resnet50_voc07_asl.py']

train_dataloader = dict(
    dataset=dict(pipeline=_base_.ml_train_pipeline[:-1] + [
        dict(type='UnknownLabelsToScore', num_classes=20, unknown_key='gt_label_difficult'),
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
