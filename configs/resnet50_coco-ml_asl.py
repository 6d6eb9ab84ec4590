# Multi-label classification on MS-COCO 2014 (80 classes, image-level labels from the
# instances json), ResNet-50 at 448x448, with the Asymmetric Loss and the official ASL recipe
# (./_base_/ml_resnet50_448_official.py says what matches and what differs). The paper's setting
# (Table 2, 86.6 mAP with TResNet-L): gamma_neg=4, gamma_pos=0, clip=0.05.
# Siblings that differ only in model.head.loss: resnet50_coco-ml_bce.py, resnet50_coco-ml_focal.py.
_base_ = ['./_base_/ml_resnet50_448_official.py']

data_root = 'data/coco/'
num_classes = 80
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[0, 0, 0],  # the official ToTensor: pixels in [0, 1], no mean/std
    std=[255, 255, 255],
    to_rgb=True,
    to_onehot=True)

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        type='CocoMultiLabel',
        data_root=data_root,
        ann_file='annotations/instances_train2014.json',
        data_prefix=dict(img_path='train2014/'),
        pipeline={{_base_.ml_train_pipeline}}),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        type='CocoMultiLabel',
        data_root=data_root,
        ann_file='annotations/instances_val2014.json',
        data_prefix=dict(img_path='val2014/'),
        pipeline={{_base_.ml_test_pipeline}},
        test_mode=True),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader

# mAP, then CP/CR/CF1 (per-class average) and OP/OR/OF1 (overall) at threshold 0.5 and for the
# top-3 predictions
val_evaluator = [
    dict(type='AveragePrecision'),
    dict(type='MultiLabelMetric', average='macro'),
    dict(type='MultiLabelMetric', average='micro'),
    dict(type='MultiLabelMetric', average='macro', topk=3),
    dict(type='MultiLabelMetric', average='micro', topk=3),
]
test_evaluator = val_evaluator
