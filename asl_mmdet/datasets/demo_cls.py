"""Run a multi-label classification config on the embedded synthetic data
(:func:`asl_mmdet.datasets.demo.demo_config` merges these overrides into mmpretrain configs).

The detection demo's images (:mod:`asl_mmdet.datasets.synthetic_coco`) double as a tiny
multi-label dataset: an image's labels are the classes of its annotated objects, so the 20% of
training objects left unannotated become missing labels. COCO-style configs read the json
directly (:class:`~asl_mmdet.datasets.CocoMultiLabel`); VOC-style configs read a VOC2007
layout written once from it by :func:`export_voc`.

The real configs keep their datasets, 448x448 input and epoch schedule; these overrides swap in
the generated data, a small input scale, a short iteration-based schedule with the same shape
(one-cycle lr, Adam's beta1 cycled), a faster EMA, no pretrained weights and optionally a
smaller ResNet.
"""
import copy
import os
import os.path as osp
from typing import Dict, List, Optional
from xml.etree import ElementTree as ET

import cv2
from mmengine.config import Config
from pycocotools.coco import COCO

from .demo import iter_schedule
from .synthetic_coco import CLASSES, ensure_demo_data

__all__ = ['VOC_SPLITS', 'export_voc', 'ensure_demo_cls_data', 'cls_demo_overrides']

VOC_SPLITS = {'train': 'trainval', 'val': 'test'}  # demo split -> VOC split


def export_voc(coco_root: str, voc_root: str, splits: Dict[str, str] = None) -> str:
    """Write the COCO-format dataset under ``coco_root`` as a VOC2007 layout under ``voc_root``
    (``JPEGImages/``, ``Annotations/*.xml``, ``ImageSets/Main/{split}.txt``) for mmpretrain's
    ``VOC`` dataset; every object is marked not difficult. Returns ``voc_root``."""
    splits = VOC_SPLITS if splits is None else splits
    for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(voc_root, sub), exist_ok=True)
    for split, voc_split in splits.items():
        coco = COCO(osp.join(coco_root, 'annotations', f'instances_{split}.json'))
        names = []
        for img_id in coco.getImgIds():
            info = coco.imgs[img_id]
            name = f'{split}_{osp.splitext(info["file_name"])[0]}'
            img = cv2.imread(osp.join(coco_root, split, info['file_name']))
            cv2.imwrite(osp.join(voc_root, 'JPEGImages', f'{name}.jpg'), img)
            root = ET.Element('annotation')
            ET.SubElement(root, 'filename').text = f'{name}.jpg'
            for ann in coco.imgToAnns.get(img_id, []):
                obj = ET.SubElement(root, 'object')
                ET.SubElement(obj, 'name').text = coco.cats[ann['category_id']]['name']
                ET.SubElement(obj, 'difficult').text = '0'
            ET.ElementTree(root).write(osp.join(voc_root, 'Annotations', f'{name}.xml'))
            names.append(name)
        with open(osp.join(voc_root, 'ImageSets', 'Main', f'{voc_split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return voc_root


def ensure_demo_cls_data(root: str = 'data/asl_demo') -> Dict[str, str]:
    """Generate the demo data (COCO json and its VOC layout) unless it is there; return the
    roots as ``dict(coco=..., voc=...)``."""
    ensure_demo_data(root)
    voc_root = osp.join(root, 'voc')
    if not all(osp.exists(osp.join(voc_root, 'ImageSets', 'Main', f'{split}.txt'))
               for split in VOC_SPLITS.values()):
        export_voc(root, voc_root)
    return dict(coco=root, voc=voc_root)


def _small_pipeline(pipeline: List[dict], image_size: int) -> List[dict]:
    """The config's pipeline with its Resize and Cutout scaled to ``image_size``."""
    pipeline = copy.deepcopy(pipeline)
    for transform in pipeline:
        if transform['type'] == 'Resize':
            transform['scale'] = (image_size, image_size)
        elif transform['type'] == 'Cutout' and transform.get('shape') is not None:
            transform['shape'] = image_size // 2
    return pipeline


def cls_demo_overrides(cfg: Config, data_root: str, max_iters: int, image_size: int = 128,
                       batch_size: int = 16, lr: float = 1e-3, num_workers: int = 2,
                       seed: int = 0, val_interval: Optional[int] = None,
                       ema_momentum: float = 0.05, depth: Optional[int] = None) -> dict:
    """The settings merged into a classification config to run it on the generated data.

    Args:
        cfg (Config): the config (its dataset type picks the COCO json or the VOC layout; its
            pipelines are kept, scaled down).
        data_root (str): root written by :func:`ensure_demo_cls_data`.
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
    """
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
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
    val_loader = dict(batch_size=batch_size, num_workers=num_workers, persistent_workers=False,
                      dataset=val_set)
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
    hooks = [dict(hook, momentum=ema_momentum) if hook['type'] == 'EMAHook' else hook
             for hook in cfg.get('custom_hooks', [])]
    model = dict(backbone=dict(init_cfg=None), head=dict(num_classes=len(CLASSES)))
    if depth is not None:
        model['backbone']['depth'] = depth
        model['head']['in_channels'] = 512 if depth < 50 else 2048
    return dict(
        model=model,
        data_preprocessor=dict(num_classes=len(CLASSES)),
        train_dataloader=dict(
            batch_size=batch_size, num_workers=num_workers, persistent_workers=False,
            sampler=dict(type='InfiniteSampler', shuffle=True), dataset=train_set),
        val_dataloader=val_loader,
        test_dataloader=val_loader,
        param_scheduler=schedulers,
        optim_wrapper=dict(optimizer=dict(lr=lr)),
        custom_hooks=hooks,
        **iter_schedule(max_iters, val_interval, batch_size, seed),
    )

