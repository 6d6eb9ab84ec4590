# Multi-label classification with ResNet-50 at 448x448: the official ASL training recipe
# (github.com/Alibaba-MIIL/ASL, train.py) in mmpretrain 1.x and MMEngine pieces. The dataset
# configs add the data loaders and preprocessor, num_classes and the metrics.
#
# The same as the official recipe: Adam, lr 1e-4, one-cycle schedule over 80 epochs with 20% warm-up
# (training stops after epoch 40), total batch 128, weight decay 1e-4 on conv/linear weights
# only (not on biases and norm layers), model EMA with decay 0.9997, Resize 448 -> Cutout
# (half the side) -> RandAugment, images scaled to [0, 1] (no mean/std), and the loss of Table 2's
# best COCO setting (gamma_neg=4, gamma_pos=0, clip=0.05) with the focusing weight treated as a
# constant in backward (the official disable_torch_grad_focal_loss=True).
#
# What differs, and why:
# - backbone: ResNet-50 with mmpretrain's ImageNet-1k weights (the official one is TResNet-M/L on
#   ImageNet-21k, not in mmpretrain);
# - mixed precision: off here so the config runs on the CPU; train with `--amp` as the
#   official script does (autocast + GradScaler);
# - OneCycleLR: MMEngine's changes the lr only. PyTorch's also cycles Adam's beta1 between 0.95 and
#   0.85: two CosineAnnealingMomentum phases below do that;
# - Cutout: mmpretrain's fills a fixed-size square with one grey value, with probability 1;
#   the official CutoutPIL uses a random colour;
# - RandAugment: mmpretrain's (timm's policies, 2 ops, magnitude 9) instead of the `randaugment`
#   PyPI package;
# - EMA: MMEngine's EMAHook (momentum = 1 - 0.9997, buffers averaged too) evaluates the EMA weights;
#   the official script evaluates both the plain and the EMA model and keeps the better mAP;
# - loss scale: the head divides the summed loss by the batch size (avg_factor=N); the official
#   loss is the plain sum. Adam barely notices a constant factor.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['asl_mmdet'], allow_failed_imports=False)

image_size = 448
num_classes = 80  # the dataset configs override it
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/resnet/'
            'resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=num_classes,
        in_channels=2048,
        loss=dict(
            type='ASLoss',
            use_sigmoid=True,
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05,
            detach_focal_weight=True,
            loss_weight=1.0)))

# the dataset configs set data_preprocessor: RGB scaled to [0, 1] (official ToTensor, no mean/std)
ml_train_pipeline = [
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
    dict(type='PackInputs'),
]
ml_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size)),
    dict(type='PackInputs'),
]

# Adam with weight decay on conv/linear weights only (official add_weight_decay: no decay for
# 1-D parameters, i.e. biases and norm layers)
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

# torch.optim.lr_scheduler.OneCycleLR(max_lr=1e-4, epochs=80, pct_start=0.2): 80 epochs of
# schedule, of which the official script trains the first 40 (max_epochs below)
schedule_epochs = 80
warmup_epochs = int(0.2 * schedule_epochs)
param_scheduler = [
    dict(type='OneCycleLR', eta_max=1e-4, total_steps=schedule_epochs, pct_start=0.2,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', eta_min=0.85, begin=0, end=warmup_epochs,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', eta_min=0.95, begin=warmup_epochs,
         end=schedule_epochs, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [dict(type='EMAHook', momentum=1 - 0.9997, update_buffers=True, priority=49)]

# the official batch: 128 on one GPU (8 GPUs: train_dataloader.batch_size=16); --auto-scale-lr
# scales the lr linearly from it
auto_scale_lr = dict(base_batch_size=128)
