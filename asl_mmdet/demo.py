"""Run configurations of the demos, every task: a detection config, an mmpretrain multi-label
or single-label classification config run on the embedded synthetic data
(:mod:`asl_mmdet.datasets.synthetic_coco`), the demo's and the tests' settings.

The real configs keep their datasets, input scale and schedule; these overrides swap in the
generated data, a small input scale, a short iteration-based schedule (:func:`iter_schedule`,
shared by every task) and no pretrained weights (nothing is downloaded).

- detection (:func:`demo_overrides`): SGD with a linear warm-up, optionally a lighter detector
  (:func:`detector_overrides`) and the EMA of its weights evaluated (:func:`with_ema`);
- multi-label classification (:func:`cls_demo_overrides`): the recipe's schedule shape over
  the demo's iterations (one-cycle lr, Adam's beta1 cycled), a faster EMA and optionally a
  smaller ResNet;
- single-label classification (:func:`single_label_demo_overrides`): the generated objects'
  crops (24 colour x shape classes) in place of CUB-200, the recipe's SGD with its linear
  warm-up and cosine decay over the demo's iterations, top-1 and top-5 accuracy, optionally a
  smaller ResNet.

:func:`demo_config` picks the task from the config, logs the paper's probability analysis
(p_t+, p_t-, Delta p: ``ASLProbabilityHook``, sigmoid losses: not for single-label runs) with
the other scalars, and keeps the per-image predictions of every evaluation in
``WORK_DIR/predictions/`` for tools/compare.py. :data:`DEMO_TASKS` holds each demo's defaults
(``tools/demo.py --task``).
"""
import copy
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .analysis.predictions import PREDICTIONS_DIR, keep_predictions
from .datasets.synthetic_coco import (CLASSES, SINGLE_LABEL_DIR, VOC_SPLITS, ensure_demo_cls_data,
                                      ensure_demo_data, ensure_demo_single_label_data)

__all__ = ['DemoTask', 'DEMO_TASKS', 'demo_overrides', 'detector_overrides', 'with_ema',
           'cls_demo_overrides', 'single_label_demo_overrides', 'is_single_label',
           'classifier_overrides', 'resnet_stages',
           'demo_config', 'dataloaders', 'iter_schedule']


def _check_iters(iters: int) -> None:
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f'iters must be a positive int, got {iters!r}')


@dataclass(frozen=True)
class DemoTask:
    """A demo's defaults: what ``tools/demo.py --task`` trains and compares.

    Attributes:
        configs (tuple[str]): config names under ``configs/``, the baseline first.
        iters (int): training iterations per run.
        validations (int): evaluations per run (the last one at the end).
        image_size (int): the input scale (single-label: the crop size).
        seeds (int): runs per config, seeds 0..seeds-1, paired across configs: enough for
            tools/compare.py's verdict (one seed gets none).
        work_dir (str): the work dirs' root.
        ensure_data (Callable): generates the task's data under a root unless it is there.
        calibration (str, optional): a config of the baseline's loss computed another way,
            whose difference is the noise floor; one of ``configs`` after the baseline.
        model (str): what runs in place of the configs' model, for the reports.
        overrides (dict): further keyword arguments of the task's overrides
            (:func:`demo_overrides`, :func:`cls_demo_overrides`,
            :func:`single_label_demo_overrides`): the model, batch size, learning rate.
    """
    configs: Tuple[str, ...]
    iters: int
    validations: int
    image_size: int
    seeds: int
    work_dir: str
    ensure_data: Callable[[str], object]
    calibration: Optional[str] = None
    model: str = ''
    overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        if not 1 <= self.validations <= self.iters:
            raise ValueError(f'validations must be in [1, iters={self.iters}], '
                             f'got {self.validations}')
        if self.calibration is not None and self.calibration not in self.configs[1:]:
            raise ValueError(f'calibration must be one of the configs after the baseline '
                             f'{self.configs[1:]}, got {self.calibration!r}')

    def val_interval(self, iters: int) -> int:
        """The iterations between evaluations of a run of ``iters`` iterations: MMEngine's
        loop evaluates every ``val_interval`` iterations and at the end, so this gives
        ``validations`` evaluations where ``validations`` divides ``iters`` (as the defaults
        do), fewer otherwise, never one more at the end."""
        _check_iters(iters)
        return math.ceil(iters / self.validations)

    def run_overrides(self, iters: int) -> dict:
        """The task's ``overrides`` for a run of ``iters`` iterations. A ``score_thr`` was
        measured on the task's own schedule: a shorter run's first evaluations may come before
        its scores pass it, so such a run keeps every box (``score_thr=0.0``)."""
        _check_iters(iters)
        overrides = dict(self.overrides)
        if iters < self.iters and 'score_thr' in overrides:
            overrides['score_thr'] = 0.0
        return overrides


# The detection demo's settings were chosen on its baseline and calibration pair alone (the
# baseline's level, the calibration's interval, minutes): docs/advanced_guides/benchmarks.md has
# the table of what was tried and the runs' times.
DEMO_TASKS = {
    'det': DemoTask(('atss_r50_focal', 'atss_r50_asl_as_focal', 'atss_r50_asl'), iters=330,
                    validations=3, image_size=128, seeds=5, work_dir='work_dirs/demo',
                    ensure_data=ensure_demo_data, calibration='atss_r50_asl_as_focal',
                    model='ATSS, ResNet-18 at half width, FPN and head at 64 channels, '
                          '2 stacked convs, anchors of 4 strides, EMA weights',
                    overrides=dict(depth=18, base_channels=32, width=64, stacked_convs=2,
                                   anchor_scale=4, score_thr=0.05, batch_size=8, lr=0.02,
                                   val_batch_size=8,
                                   num_workers=0, ema_momentum=0.05)),
    'cls': DemoTask(('resnet50_coco-ml_bce', 'resnet50_coco-ml_asl_as_bce',
                     'resnet50_coco-ml_focal', 'resnet50_coco-ml_asl'),
                    iters=320, validations=4, image_size=128, seeds=3,
                    work_dir='work_dirs/demo_cls', ensure_data=ensure_demo_cls_data,
                    calibration='resnet50_coco-ml_asl_as_bce', model='ResNet-18 at half width',
                    overrides=dict(depth=18, base_channels=32)),
    'single': DemoTask(('resnet50_cub_ce-ls', 'resnet50_cub_asl-single-label_as_ce-ls',
                        'resnet50_cub_asl-single-label'), iters=120,
                       validations=2, image_size=64, seeds=3, work_dir='work_dirs/demo_single',
                       ensure_data=ensure_demo_single_label_data,
                       calibration='resnet50_cub_asl-single-label_as_ce-ls', model='ResNet-18',
                       overrides=dict(depth=18)),
}

PROB_HOOKS = ('ASLProbabilityHook', 'AdaptiveAsymmetryHook')
# the output channels of a ResNet's four stages, by depth, at the default 64 base channels
RESNET_OUT_CHANNELS = {depth: (64, 128, 256, 512) for depth in (18, 34)}
RESNET_OUT_CHANNELS.update({depth: (256, 512, 1024, 2048) for depth in (50, 101, 152)})


def resnet_stages(depth: Optional[int], base_channels: Optional[int] = None) -> List[int]:
    """The output channels of a ResNet's four stages at ``depth`` and ``base_channels``
    (default 64); the errors name the argument (``base_channels`` needs a ``depth``)."""
    if base_channels is not None and depth is None:
        raise ValueError(f'base_channels={base_channels} needs depth (the stages\' channels '
                         'follow from a ResNet of known depth), got depth=None')
    if depth not in RESNET_OUT_CHANNELS:
        raise ValueError(f'depth must be one of {sorted(RESNET_OUT_CHANNELS)}, got {depth!r}')
    if base_channels is not None and (not isinstance(base_channels, int) or base_channels < 1):
        raise ValueError(f'base_channels must be a positive int or None, got {base_channels!r}')
    scale = (base_channels or 64) / 64
    return [round(channels * scale) for channels in RESNET_OUT_CHANNELS[depth]]


def _pipelines(image_size: int):
    train = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]
    test = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
    ]
    return train, test


def demo_overrides(data_root: str, max_iters: int, image_size: int = 256, batch_size: int = 4,
                   lr: float = 0.01, num_workers: int = 2, val_split: str = 'val',
                   seed: int = 0, val_interval: Optional[int] = None,
                   val_batch_size: int = 1, depth: Optional[int] = None,
                   width: Optional[int] = None, stacked_convs: Optional[int] = None,
                   base_channels: Optional[int] = None, anchor_scale: Optional[int] = None,
                   score_thr: Optional[float] = 0.0, ema_momentum: Optional[float] = None,
                   custom_hooks: Sequence[dict] = ()) -> dict:
    """The settings merged into a detection config to run it on the generated data.

    Args:
        data_root (str): root written by
            :func:`~asl_mmdet.datasets.synthetic_coco.ensure_demo_data`.
        max_iters (int): training iterations; validation and a checkpoint at the end.
        image_size (int): input scale (square).
        batch_size (int): training batch size.
        lr (float): SGD learning rate (linear warm-up over the first iterations).
        num_workers (int): data loader workers.
        val_split (str): the split evaluated with the COCO metric.
        seed (int): MMEngine's random seed.
        val_interval (int, optional): iterations between COCO evaluations (default: at the
            end only).
        val_batch_size (int): evaluation batch size.
        depth, width, stacked_convs, base_channels, anchor_scale: a lighter detector, its
            anchors sized for the demo's objects (:func:`detector_overrides`).
        score_thr (float, optional): the score threshold at test time
            (:func:`detector_overrides`; default 0.0: every box kept).
        ema_momentum (float, optional): evaluate an exponential moving average of the weights
            (MMEngine's ``EMAHook``, buffers averaged too) with this momentum, the weight of
            each new step: 0.05 averages over about the last 20 iterations (default: the
            trained weights, unless the config has its own ``EMAHook``).
        custom_hooks (Sequence[dict]): the config's custom hooks, kept (the EMA hook joins
            them, or sets the momentum of theirs).
    """
    train_pipeline, test_pipeline = _pipelines(image_size)
    metainfo = dict(classes=CLASSES)
    root = data_root.rstrip('/') + '/'
    val_ann = f'annotations/instances_{val_split}.json'
    val_set = dict(data_root=root, metainfo=metainfo, ann_file=val_ann,
                   data_prefix=dict(img=f'{val_split}/'), pipeline=test_pipeline)
    train_set = dict(data_root=root, metainfo=metainfo, ann_file='annotations/instances_train.json',
                     data_prefix=dict(img='train/'), pipeline=train_pipeline)
    val_evaluator = dict(type='CocoMetric', ann_file=osp.join(root, val_ann), metric='bbox',
                         format_only=False)
    warmup = max(1, min(50, max_iters // 4))
    hooks = {} if ema_momentum is None else dict(
        custom_hooks=with_ema(custom_hooks, ema_momentum, add=True))
    return dict(
        model=detector_overrides(depth, width, stacked_convs, base_channels, anchor_scale,
                                 score_thr),
        **dataloaders(train_set, val_set, batch_size, num_workers, val_batch_size=val_batch_size),
        val_evaluator=val_evaluator,
        test_evaluator=val_evaluator,
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup),
        ],
        optim_wrapper=dict(optimizer=dict(lr=lr), clip_grad=dict(max_norm=35, norm_type=2)),
        **iter_schedule(max_iters, val_interval, batch_size, seed),
        **hooks,
    )


def with_ema(hooks: Sequence[dict], momentum: float, add: bool = False) -> List[dict]:
    """``hooks`` with their ``EMAHook``'s momentum set to ``momentum``; without one, the
    same hooks, and if ``add``, MMEngine's ``EMAHook`` after them (``ExponentialMovingAverage``,
    buffers averaged too, MMDetection's priority 49)."""
    if not isinstance(momentum, (int, float)) or not 0 < momentum <= 1:
        raise ValueError(f'ema_momentum must be in (0, 1], got {momentum!r}')
    hooks = [dict(hook, momentum=momentum) if hook['type'] == 'EMAHook' else dict(hook)
             for hook in hooks]
    if add and not any(hook['type'] == 'EMAHook' for hook in hooks):
        hooks.append(dict(type='EMAHook', ema_type='ExponentialMovingAverage',
                          momentum=momentum, update_buffers=True, priority=49))
    return hooks


def detector_overrides(depth: Optional[int] = None, width: Optional[int] = None,
                       stacked_convs: Optional[int] = None,
                       base_channels: Optional[int] = None,
                       anchor_scale: Optional[int] = None,
                       score_thr: Optional[float] = 0.0) -> dict:
    """A dense detector's model settings for the demo data: its head on the 24 classes, no
    pretrained weights (every stage trained), and optionally a lighter model than the
    config's.

    Args:
        depth (int, optional): a ResNet depth in place of the config's (18 or 34: a
            basic-block ResNet; the neck's inputs follow).
        width (int, optional): the FPN's output channels and the head's channels in place of
            the config's (256).
        stacked_convs (int, optional): the head's stacked convs per branch in place of the
            config's (4).
        base_channels (int, optional): the ResNet's stem and first-stage channels in place of
            64, every stage's scaled alike (32: a half-width ResNet with a quarter of the
            convolutions' work); needs ``depth``.
        anchor_scale (int, optional): an anchor-based head's ``octave_base_scale``, its
            anchors' side in strides, in place of the config's (8: 64 px anchors on the
            stride-8 level, for COCO's objects at 1333x800; 4 fits the demo's objects at
            128 px, 13 to 50 px in side for 80% of them).
        score_thr (float, optional): the lowest score kept at test time; None keeps the
            config's (0.05 in the COCO configs). The default, 0.0, keeps every box: a briefly
            trained detector scores below 0.05 (its classifier starts at 0.01), and an
            evaluation without detections has no AP. The detection demo's runs pass 0.05: after
            100 iterations and later it scored the same AP as every box kept, and evaluated
            faster.
    """
    for name, value in (('depth', depth), ('width', width), ('stacked_convs', stacked_convs),
                        ('anchor_scale', anchor_scale)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f'{name} must be a positive int or None, got {value!r}')
    if score_thr is not None and (isinstance(score_thr, bool)
                                  or not isinstance(score_thr, (int, float))
                                  or not 0 <= score_thr < 1):
        raise ValueError(f'score_thr must be a number in [0, 1) or None, got {score_thr!r}')
    model = dict(backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False),
                 bbox_head=dict(num_classes=len(CLASSES)))
    if score_thr is not None:
        model['test_cfg'] = dict(score_thr=score_thr)
    if depth is not None or base_channels is not None:
        model['backbone']['depth'] = depth
        model['neck'] = dict(in_channels=resnet_stages(depth, base_channels))
    if base_channels is not None:
        model['backbone']['base_channels'] = base_channels
    if width is not None:
        model.setdefault('neck', {})['out_channels'] = width
        model['bbox_head'].update(in_channels=width, feat_channels=width)
    if stacked_convs is not None:
        model['bbox_head']['stacked_convs'] = stacked_convs
    if anchor_scale is not None:
        model['bbox_head']['anchor_generator'] = dict(octave_base_scale=anchor_scale)
    return model


def dataloaders(train_set: dict, val_set: dict, batch_size: int, num_workers: int,
                val_batch_size: Optional[int] = None) -> dict:
    """The demo runs' data loaders: training samples ``train_set`` without end, evaluation
    (validation and test alike) reads ``val_set`` in batches of ``val_batch_size`` (default:
    ``batch_size``)."""
    val_loader = dict(batch_size=val_batch_size or batch_size, num_workers=num_workers,
                      persistent_workers=False, dataset=val_set)
    return dict(
        train_dataloader=dict(batch_size=batch_size, num_workers=num_workers,
                              persistent_workers=False,
                              sampler=dict(type='InfiniteSampler', shuffle=True),
                              dataset=train_set),
        val_dataloader=val_loader,
        test_dataloader=val_loader)


def iter_schedule(max_iters: int, val_interval: Optional[int], batch_size: int,
                  seed: int) -> dict:
    """The demo runs' loop, logging, checkpoints and seed: ``max_iters`` iterations, an
    evaluation and a checkpoint every ``val_interval`` (default: at the end)."""
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    return dict(
        train_cfg=dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                       val_interval=val_interval or max_iters),
        default_hooks=dict(
            logger=dict(interval=min(10, max_iters), log_metric_by_epoch=False),
            checkpoint=dict(by_epoch=False, interval=val_interval or max_iters)),
        log_processor=dict(by_epoch=False),
        auto_scale_lr=dict(base_batch_size=batch_size),
        # one seed for every run: the same initial weights and batches, so runs differ by
        # their loss alone (ASLoss configured as focal loss retraces the focal run)
        randomness=dict(seed=seed),
    )


def demo_config(config_file: str, data_root: str, work_dir: str, max_iters: int,
                launcher: Optional[str] = None, log_prob_gap: bool = True,
                keep_val_predictions: bool = True, **kwargs) -> Config:
    """Load ``config_file``, merge the demo overrides of its task and set ``work_dir``.

    Args:
        config_file (str): a detection config, or an mmpretrain multi-label or single-label
            classification config (``default_scope='mmpretrain'``; :func:`is_single_label`).
        data_root (str): root written by
            :func:`~asl_mmdet.datasets.synthetic_coco.ensure_demo_data` (multi-label:
            :func:`~asl_mmdet.datasets.synthetic_coco.ensure_demo_cls_data`, single-label:
            its crops, :func:`~asl_mmdet.datasets.synthetic_coco.ensure_demo_single_label_data`).
        work_dir (str): the run's work dir.
        max_iters (int): training iterations.
        launcher (str, optional): MMEngine's launcher.
        log_prob_gap (bool): add ``ASLProbabilityHook`` at the logger's interval (to the
            config's ``custom_hooks``), so that ``scalars.json`` holds ``asl_p_pos``,
            ``asl_p_neg``, ``asl_delta_p`` and ``asl_gamma_neg``; not if the config has it or
            ``AdaptiveAsymmetryHook`` (which logs them) already, nor for a single-label config
            (the hook tracks sigmoid losses).
        keep_val_predictions (bool): every evaluation writes the predictions it scored to
            ``work_dir/predictions/`` (:func:`~asl_mmdet.analysis.predictions.keep_predictions`:
            ``val.bbox.json`` for detection, ``val.pkl`` for classification).
        **kwargs: the keyword arguments of :func:`demo_overrides` (multi-label:
            :func:`cls_demo_overrides`, single-label: :func:`single_label_demo_overrides`).
    """
    cfg = Config.fromfile(config_file)
    single_label = is_single_label(cfg)
    if single_label:
        cfg.merge_from_dict(single_label_demo_overrides(cfg, data_root, max_iters, **kwargs))
    elif cfg.get('default_scope') == 'mmpretrain':
        cfg.merge_from_dict(cls_demo_overrides(cfg, data_root, max_iters, **kwargs))
    else:
        cfg.merge_from_dict(demo_overrides(data_root, max_iters,
                                           custom_hooks=cfg.get('custom_hooks', []), **kwargs))
    cfg.work_dir = work_dir
    if keep_val_predictions:
        keep_predictions(cfg, osp.join(work_dir, PREDICTIONS_DIR))
    if launcher is not None:
        cfg.launcher = launcher
    hooks = list(cfg.get('custom_hooks', []))
    if log_prob_gap and not single_label and not any(hook['type'] in PROB_HOOKS
                                                     for hook in hooks):
        interval = cfg.default_hooks.logger.interval
        cfg.custom_hooks = hooks + [dict(type='ASLProbabilityHook', interval=interval)]
    return cfg


# the multi-label recipe's augmentations that change a demo image's labels: the demo's classes
# are colours x shapes, which RandAugment's colour operations (Solarize, Posterize, Equalize,
# Color, ...) turn into other classes, and a Cutout of half the side erases objects whose labels
# stay
LABEL_CHANGING_TRANSFORMS = ('Cutout', 'RandAugment')


def _small_pipeline(pipeline: List[dict], image_size: int) -> List[dict]:
    """The config's pipeline at ``image_size`` (its Resize scaled), without the transforms of
    :data:`LABEL_CHANGING_TRANSFORMS`."""
    pipeline = [copy.deepcopy(transform) for transform in pipeline
                if transform['type'] not in LABEL_CHANGING_TRANSFORMS]
    for transform in pipeline:
        if transform['type'] == 'Resize':
            transform['scale'] = (image_size, image_size)
    return pipeline


def classifier_overrides(depth: Optional[int] = None,
                         base_channels: Optional[int] = None) -> dict:
    """A classifier's model settings for the demo data: its head on the 24 classes, no
    pretrained weights, and a ResNet of ``depth`` in place of the config's if given (18 or 34:
    a basic-block ResNet that trains several times faster on the CPU), with ``base_channels``
    in its stem and first stage (every stage scaled alike; needs ``depth``)."""
    model = dict(backbone=dict(init_cfg=None), head=dict(num_classes=len(CLASSES)))
    if depth is not None or base_channels is not None:
        model['backbone']['depth'] = depth
        model['head']['in_channels'] = resnet_stages(depth, base_channels)[-1]
    if base_channels is not None:
        model['backbone'].update(stem_channels=base_channels, base_channels=base_channels)
    return model


def cls_demo_overrides(cfg: Config, data_root: str, max_iters: int, image_size: int = 128,
                       batch_size: int = 16, lr: float = 1e-3, num_workers: int = 2,
                       seed: int = 0, val_interval: Optional[int] = None,
                       ema_momentum: float = 0.05, depth: Optional[int] = None,
                       base_channels: Optional[int] = None) -> dict:
    """The settings merged into a classification config to run it on the generated data.

    Args:
        cfg (Config): the config (its dataset type picks the COCO json or the VOC layout; its
            pipelines are kept, scaled down).
        data_root (str): root written by
            :func:`~asl_mmdet.datasets.synthetic_coco.ensure_demo_cls_data`.
        max_iters (int): training iterations; validation and a checkpoint at the end.
        image_size (int): input scale (square).
        batch_size (int): training batch size.
        lr (float): peak learning rate of the one-cycle schedule.
        num_workers (int): data loader workers.
        seed (int): MMEngine's random seed.
        val_interval (int, optional): iterations between evaluations (default: at the end).
        ema_momentum (float): the EMA hook's momentum (the recipe's 3e-4 averages over
            thousands of iterations, longer than the demo).
        depth (int, optional): a ResNet depth in place of the config's (18 or 34 for a
            basic-block ResNet that trains several times faster on the CPU).
        base_channels (int, optional): the ResNet's stem and first-stage channels in place of
            64 (:func:`classifier_overrides`).
    """
    voc = cfg.train_dataloader.dataset.type == 'VOC'
    metainfo = dict(classes=CLASSES)
    if voc:
        root = osp.join(data_root, 'voc')
        train_set = dict(data_root=root, split=VOC_SPLITS['train'])
        val_set = dict(data_root=root, split=VOC_SPLITS['val'])
    else:
        train_set = dict(data_root=data_root, ann_file='annotations/instances_train.json',
                         data_prefix=dict(img_path='train/'))
        val_set = dict(data_root=data_root, ann_file='annotations/instances_val.json',
                       data_prefix=dict(img_path='val/'))
    train_set.update(metainfo=metainfo, pipeline=_small_pipeline(
        cfg.train_dataloader.dataset.pipeline, image_size))
    val_set.update(metainfo=metainfo, pipeline=_small_pipeline(
        cfg.val_dataloader.dataset.pipeline, image_size))
    # the recipe's one-cycle shape over the demo's iterations
    warmup = max(1, int(0.2 * max_iters))
    schedulers = [
        dict(type='OneCycleLR', eta_max=lr, total_steps=max_iters, pct_start=0.2,
             by_epoch=False),
        dict(type='CosineAnnealingMomentum', eta_min=0.85, begin=0, end=warmup,
             by_epoch=False),
    ]
    if warmup < max_iters:
        schedulers.append(dict(type='CosineAnnealingMomentum', eta_min=0.95, begin=warmup,
                               end=max_iters, by_epoch=False))
    hooks = with_ema(cfg.get('custom_hooks', []), ema_momentum)
    return dict(
        model=classifier_overrides(depth, base_channels),
        data_preprocessor=dict(num_classes=len(CLASSES)),
        **dataloaders(train_set, val_set, batch_size, num_workers),
        param_scheduler=schedulers,
        optim_wrapper=dict(optimizer=dict(lr=lr)),
        custom_hooks=hooks,
        **iter_schedule(max_iters, val_interval, batch_size, seed),
    )


def is_single_label(cfg: Config) -> bool:
    """Whether ``cfg`` is an mmpretrain classifier with a single-label head (``LinearClsHead``
    and the other subclasses of ``ClsHead`` that are not ``MultiLabelClsHead``)."""
    head = cfg.get('model', {}).get('head')
    if cfg.get('default_scope') != 'mmpretrain' or head is None:
        return False
    from mmpretrain.models.heads import ClsHead, MultiLabelClsHead
    from mmpretrain.registry import MODELS

    head_cls = MODELS.get(head['type'])
    if head_cls is None:
        raise ValueError(f'model.head.type {head["type"]!r} is not an mmpretrain model')
    return issubclass(head_cls, ClsHead) and not issubclass(head_cls, MultiLabelClsHead)


def _crop_size(transform: dict) -> Optional[int]:
    size = transform.get('crop_size', transform.get('scale') if 'Crop' in transform['type']
                         else None)
    return size[0] if isinstance(size, (list, tuple)) else size


def _single_label_pipeline(pipeline: List[dict], image_size: int) -> List[dict]:
    """The config's pipeline with its crops at ``image_size`` and its Resize scaled by the same
    factor (the CUB recipe's 600 then 448: 86 then 64)."""
    pipeline = copy.deepcopy(pipeline)
    crop = next((size for size in map(_crop_size, pipeline) if size), None)
    factor = image_size / crop if crop else None
    for transform in pipeline:
        if transform['type'] == 'Resize':
            scale = transform.get('scale')
            if factor is None or scale is None:
                transform.pop('scale_factor', None)
                transform['scale'] = (image_size, image_size)
            elif isinstance(scale, (list, tuple)):
                transform['scale'] = tuple(round(s * factor) for s in scale)
            else:
                transform['scale'] = round(scale * factor)
        elif transform['type'] == 'ResizeEdge' and factor is not None:
            transform['scale'] = round(transform['scale'] * factor)
        elif _crop_size(transform):
            key = 'crop_size' if 'crop_size' in transform else 'scale'
            transform[key] = image_size
    return pipeline


def single_label_demo_overrides(cfg: Config, data_root: str, max_iters: int,
                                image_size: int = 64, batch_size: int = 32, lr: float = 0.05,
                                num_workers: int = 2, seed: int = 0,
                                val_interval: Optional[int] = None,
                                depth: Optional[int] = None) -> dict:
    """The settings merged into a single-label classification config (the CUB-200 recipe) to
    run it on the crops of the generated objects.

    Args:
        cfg (Config): the config (its pipelines are kept, scaled down; a loss with a
            ``num_classes``, ``LabelSmoothLoss``, gets the demo's).
        data_root (str): root written by
            :func:`~asl_mmdet.datasets.synthetic_coco.ensure_demo_single_label_data` (the
            crops under ``data_root/single_label``).
        max_iters (int): training iterations; validation and a checkpoint at the end.
        image_size (int): the crop size of the pipelines (square).
        batch_size (int): training batch size.
        lr (float): SGD's peak learning rate (linear warm-up over the first 20% of the
            iterations, then cosine decay to 0).
        num_workers (int): data loader workers.
        seed (int): MMEngine's random seed.
        val_interval (int, optional): iterations between evaluations (default: at the end).
        depth (int, optional): a ResNet depth in place of the config's (18 or 34 for a
            basic-block ResNet that trains several times faster on the CPU).
    """
    root = osp.join(data_root, SINGLE_LABEL_DIR)
    metainfo = dict(classes=CLASSES)

    def dataset(split: str, pipeline: List[dict]) -> dict:
        return dict(_delete_=True, type='CustomDataset', data_root=root, ann_file=f'{split}.txt',
                    data_prefix=split, metainfo=metainfo,
                    pipeline=_single_label_pipeline(pipeline, image_size))

    val_evaluator = dict(_delete_=True, type='Accuracy', topk=(1, 5))
    warmup = max(1, int(0.2 * max_iters))
    schedulers = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup)]
    if warmup < max_iters:
        schedulers.append(dict(type='CosineAnnealingLR', T_max=max_iters - warmup,
                               by_epoch=False, begin=warmup, end=max_iters))
    model = classifier_overrides(depth)
    if 'num_classes' in cfg.model.head.get('loss', {}):
        model['head']['loss'] = dict(num_classes=len(CLASSES))
    return dict(
        model=model,
        data_preprocessor=dict(num_classes=len(CLASSES)),
        **dataloaders(dataset('train', cfg.train_dataloader.dataset.pipeline),
                      dataset('val', cfg.val_dataloader.dataset.pipeline), batch_size,
                      num_workers),
        val_evaluator=val_evaluator,
        test_evaluator=val_evaluator,
        param_scheduler=schedulers,
        optim_wrapper=dict(optimizer=dict(lr=lr)),
        **iter_schedule(max_iters, val_interval, batch_size, seed),
    )
