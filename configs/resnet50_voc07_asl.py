# Multi-label classification on PASCAL VOC 2007 (20 classes; trainval / test), the paper's second
# benchmark (94.6 mAP with TResNet-L at 448), with the Asymmetric Loss and the official ASL recipe
# (./_base_/ml_resnet50_448_official.py). Data layout and the difficult-aware VOC metrics come from
# mmpretrain's voc_bs16.py; the pipelines are the recipe's 448x448 ones.
# Sibling that differs only in model.head.loss: resnet50_voc07_bce.py.
_base_ = [
    'mmpretrain::_base_/datasets/voc_bs16.py',
    './_base_/ml_resnet50_448_official.py',
]

num_classes = 20
model = dict(head=dict(num_classes=num_classes))
# the official ToTensor: pixels in [0, 1], no mean/std
data_preprocessor = dict(num_classes=num_classes, mean=[0, 0, 0], std=[255, 255, 255])

train_dataloader = dict(batch_size=128, num_workers=8,
                        dataset=dict(pipeline={{_base_.ml_train_pipeline}}))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=({{_base_.image_size}}, {{_base_.image_size}})),
        # `gt_label_difficult` is needed by the VOC metrics
        dict(type='PackInputs',
             meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                        'flip', 'flip_direction', 'gt_label_difficult')),
    ]))
test_dataloader = val_dataloader

# mAP, CP/CR/CF1 and OP/OR/OF1 (difficult labels ignored), also for the top-3 predictions
val_evaluator = [
    dict(type='VOCAveragePrecision'),
    dict(type='VOCMultiLabelMetric', average='macro'),
    dict(type='VOCMultiLabelMetric', average='micro'),
    dict(type='VOCMultiLabelMetric', average='macro', topk=3),
    dict(type='VOCMultiLabelMetric', average='micro', topk=3),
]
test_evaluator = val_evaluator
