"""Run a detection config on the embedded synthetic data: the demo's and the tests' settings.

The real configs keep MMDetection's COCO paths, input scale and schedule; these overrides swap
in the generated dataset, a small input scale, a short iteration-based schedule and no
pretrained weights (nothing is downloaded). :func:`demo_config` also logs the paper's
probability analysis (p_t+, p_t-, Delta p: ``ASLProbabilityHook``) with the other scalars, and
keeps the per-image predictions of every evaluation in ``WORK_DIR/predictions/`` for the
paired bootstrap of tools/compare.py.
"""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from ..analysis.predictions import PREDICTIONS_DIR, keep_predictions
from .synthetic_coco import CLASSES

__all__ = ['demo_overrides', 'demo_config', 'iter_schedule']

PROB_HOOKS = ('ASLProbabilityHook', 'AdaptiveAsymmetryHook')


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
                   seed: int = 0, val_interval: Optional[int] = None) -> dict:
    """The settings merged into a detection config to run it on the generated data.

    Args:
        data_root (str): root written by :func:`ensure_demo_data`.
        max_iters (int): training iterations; validation and a checkpoint at the end.
        image_size (int): input scale (square).
        batch_size (int): training batch size.
        lr (float): SGD learning rate (linear warm-up over the first iterations).
        num_workers (int): data loader workers.
        val_split (str): the split evaluated with the COCO metric.
        seed (int): MMEngine's random seed.
        val_interval (int, optional): iterations between COCO evaluations (default: at the
            end only).
    """
    train_pipeline, test_pipeline = _pipelines(image_size)
    metainfo = dict(classes=CLASSES)
    root = data_root.rstrip('/') + '/'
    val_ann = f'annotations/instances_{val_split}.json'
    val_loader = dict(
        batch_size=1, num_workers=num_workers, persistent_workers=False,
        dataset=dict(data_root=root, metainfo=metainfo, ann_file=val_ann,
                     data_prefix=dict(img=f'{val_split}/'), pipeline=test_pipeline))
    val_evaluator = dict(type='CocoMetric', ann_file=osp.join(root, val_ann), metric='bbox',
                         format_only=False)
    warmup = max(1, min(50, max_iters // 4))
    return dict(
        model=dict(
            backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False),
            bbox_head=dict(num_classes=len(CLASSES)),
            # a briefly trained model scores below the COCO configs' 0.05, and the COCO metric
            # of no detections is empty: keep every box (AP ranks them by score anyway)
            test_cfg=dict(score_thr=0.0)),
        train_dataloader=dict(
            batch_size=batch_size, num_workers=num_workers, persistent_workers=False,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=dict(data_root=root, metainfo=metainfo,
                         ann_file='annotations/instances_train.json',
                         data_prefix=dict(img='train/'), pipeline=train_pipeline)),
        val_dataloader=val_loader,
        test_dataloader=val_loader,
        val_evaluator=val_evaluator,
        test_evaluator=val_evaluator,
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup),
        ],
        optim_wrapper=dict(optimizer=dict(lr=lr), clip_grad=dict(max_norm=35, norm_type=2)),
        **iter_schedule(max_iters, val_interval, batch_size, seed),
    )


def iter_schedule(max_iters: int, val_interval: Optional[int], batch_size: int,
                  seed: int) -> dict:
    """The demo runs' loop, logging, checkpoints and seed: ``max_iters`` iterations, an
    evaluation and a checkpoint every ``val_interval`` (default: at the end)."""
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
        config_file (str): a detection config, or an mmpretrain multi-label classification
            config (``default_scope='mmpretrain'``).
        data_root (str): root written by :func:`ensure_demo_data` (classification:
            :func:`~asl_mmdet.datasets.demo_cls.ensure_demo_cls_data`).
        work_dir (str): the run's work dir.
        max_iters (int): training iterations.
        launcher (str, optional): MMEngine's launcher.
        log_prob_gap (bool): add ``ASLProbabilityHook`` at the logger's interval (to the
            config's ``custom_hooks``), so that ``scalars.json`` holds ``asl_p_pos``,
            ``asl_p_neg``, ``asl_delta_p`` and ``asl_gamma_neg``; not if the config has it or
            ``AdaptiveAsymmetryHook`` (which logs them) already.
        keep_val_predictions (bool): every evaluation writes the predictions it scored to
            ``work_dir/predictions/`` (:func:`~asl_mmdet.analysis.predictions.keep_predictions`:
            ``val.bbox.json`` for detection, ``val.pkl`` for classification).
        **kwargs: the keyword arguments of :func:`demo_overrides` (classification:
            :func:`~asl_mmdet.datasets.demo_cls.cls_demo_overrides`).
    """
    cfg = Config.fromfile(config_file)
    if cfg.get('default_scope') == 'mmpretrain':
        from .demo_cls import cls_demo_overrides
        cfg.merge_from_dict(cls_demo_overrides(cfg, data_root, max_iters, **kwargs))
    else:
        cfg.merge_from_dict(demo_overrides(data_root, max_iters, **kwargs))
    cfg.work_dir = work_dir
    if keep_val_predictions:
        keep_predictions(cfg, osp.join(work_dir, PREDICTIONS_DIR))
    if launcher is not None:
        cfg.launcher = launcher
    hooks = list(cfg.get('custom_hooks', []))
    if log_prob_gap and not any(hook['type'] in PROB_HOOKS for hook in hooks):
        interval = cfg.default_hooks.logger.interval
        cfg.custom_hooks = hooks + [dict(type='ASLProbabilityHook', interval=interval)]
    return cfg
