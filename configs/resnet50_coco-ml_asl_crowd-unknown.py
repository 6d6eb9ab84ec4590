# resnet50_coco-ml_asl.py with the labels of crowd annotations unknown in training: a category
# that an image has only as iscrowd=1 annotations is -1 in the loss target (no loss, no gradient)
# instead of a positive (the official ASL counts every annotation). CocoMultiLabel with
# crowd_as_unknown=True puts the crowds' categories in gt_label_difficult (the key of mmpretrain's
# VOC for difficult objects); UnknownLabelsToScore builds the dense gt_score (1 / 0 / -1);
# PackInputs packs it and MultiLabelLinearClsHead hands it to the loss, which must ignore -1
# (ASLoss does). Evaluation is the parent's (every annotation a positive, as in the paper), so the
# two configs' mAP compare; to leave the crowd-only categories out of the metrics as well, see
# docs/user_guides/unknown_labels.md ("Unknown labels: COCO crowds, VOC difficult objects").
# The train pipeline is the recipe's (./_base_/ml_resnet50_448_official.py, ml_train_pipeline)
# with the transform before PackInputs.
_base_ = ['./resnet50_coco-ml_asl.py']

train_dataloader = dict(
    dataset=dict(
        crowd_as_unknown=True,
        pipeline=_base_.ml_train_pipeline[:-1] + [
            dict(type='UnknownLabelsToScore', num_classes=80, unknown_key='gt_label_difficult'),
            dict(type='PackInputs'),
        ]))
