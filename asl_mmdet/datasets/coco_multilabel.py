"""MS-COCO as a multi-label image-classification dataset for mmpretrain.

mmpretrain 1.2 has no COCO multi-label dataset. :class:`CocoMultiLabel` reads a COCO
``instances_*.json`` with pycocotools and labels each image with the categories of its
objects, as the official ASL training does (``src/helper_functions/helper_functions.py``:
every annotation counts, crowd ones included; images without annotations are left out;
classes in the order of the json's ``categories``, i.e. 80 contiguous labels for COCO).
With ``crowd_as_unknown=True`` crowd annotations are set apart the way mmpretrain's ``VOC``
sets apart difficult objects, for :class:`~asl_mmdet.datasets.transforms.UnknownLabelsToScore`.
"""
import os.path as osp
from typing import List

from mmengine.fileio import get_local_path
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.registry import DATASETS
from pycocotools.coco import COCO

__all__ = ['CocoMultiLabel']


@DATASETS.register_module()
class CocoMultiLabel(MultiLabelDataset):
    """COCO images with image-level labels: the categories of their annotated objects.

    Args:
        ann_file (str): a COCO ``instances_*.json``, relative to ``data_root``.
        data_prefix (str | dict): the image folder, relative to ``data_root``
            (``dict(img_path='train2014/')``).
        keep_empty (bool): keep images with no annotation (all-negative samples). False by
            default, like the official implementation.
        crowd_as_unknown (bool): False (default): ``gt_label`` holds the categories of all
            annotations, crowd ones included. True: ``gt_label`` holds the categories with at
            least one non-crowd annotation, and ``gt_label_difficult`` (the key of
            mmpretrain's ``VOC`` for difficult objects) those with at least one crowd
            annotation; a category only seen in crowds is then unknown, -1, in the
            ``gt_score`` that ``UnknownLabelsToScore`` builds, and is ignored by
            ``VOCAveragePrecision`` / ``VOCMultiLabelMetric`` (``difficult_as_positive=None``).
            The same images are kept either way.
        **kwargs: the other arguments of mmpretrain's ``MultiLabelDataset`` (``data_root``,
            ``pipeline``, ``metainfo``, ``test_mode``, ...). Without ``metainfo['classes']``,
            the class names are the json's category names.

    Example:
        >>> dataset = CocoMultiLabel(data_root='data/coco',
        ...                          ann_file='annotations/instances_train2014.json',
        ...                          data_prefix=dict(img_path='train2014/'))
    """

    def __init__(self, ann_file: str, keep_empty: bool = False, crowd_as_unknown: bool = False,
                 **kwargs) -> None:
        if not isinstance(keep_empty, bool):
            raise TypeError(f'keep_empty must be a bool, got {keep_empty!r}')
        if not isinstance(crowd_as_unknown, bool):
            raise TypeError(f'crowd_as_unknown must be a bool, got {crowd_as_unknown!r}')
        self.keep_empty = keep_empty
        self.crowd_as_unknown = crowd_as_unknown
        super().__init__(ann_file=ann_file, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One ``dict(img_path, gt_label)`` per image, labels in [0, num_categories), plus
        ``gt_label_difficult`` (the crowd annotations' labels) with ``crowd_as_unknown``."""
        with get_local_path(self.ann_file) as local_path:
            coco = COCO(local_path)
        cat_ids = list(coco.cats)
        names = tuple(coco.cats[cat_id]['name'] for cat_id in cat_ids)
        classes = self._metainfo.get('classes')
        if classes is None:
            self._metainfo['classes'] = names
        elif len(classes) != len(names):
            raise ValueError(f'metainfo classes has {len(classes)} names but {self.ann_file} '
                             f'has {len(names)} categories')
        label_of = {cat_id: label for label, cat_id in enumerate(cat_ids)}
        data_list = []
        for img_id in coco.getImgIds():
            anns = coco.imgToAnns.get(img_id, [])
            if not anns and not self.keep_empty:
                continue
            file_name = coco.imgs[img_id]['file_name']
            info = dict(img_path=osp.join(self.data_prefix['img_path'], file_name))
            if self.crowd_as_unknown:
                info['gt_label'] = sorted({label_of[ann['category_id']] for ann in anns
                                           if not ann.get('iscrowd', 0)})
                info['gt_label_difficult'] = sorted({label_of[ann['category_id']] for ann in anns
                                                     if ann.get('iscrowd', 0)})
            else:
                info['gt_label'] = sorted({label_of[ann['category_id']] for ann in anns})
            data_list.append(info)
        return data_list
