"""A small deterministic COCO-format detection dataset for the demo and the tests.

Images hold several objects at varied scales on a cluttered background: each class is one of
4 shapes in one of 6 colours (24 classes). A fraction of the training objects is left out of
the annotations on purpose (the missing-label regime ASL targets); validation is fully labelled.

The same images double as a tiny multi-label classification dataset: an image's labels are the
classes of its annotated objects, so the unannotated training objects become missing labels.
COCO-style configs read the json directly (:class:`~asl_mmdet.datasets.CocoMultiLabel`);
VOC-style configs read a VOC2007 layout written once from it by :func:`export_voc`.

Cropped to their annotated objects, the images also give a single-label (fine-grained:
colour x shape) classification dataset in mmpretrain's ``CustomDataset`` layout
(:func:`export_single_label`, :func:`ensure_demo_single_label_data`).
"""
import contextlib
import io
import json
import os
import os.path as osp
import shutil
from typing import Dict, List, Sequence, Tuple
from xml.etree import ElementTree as ET

import cv2
import numpy as np
from pycocotools.coco import COCO

__all__ = ['CLASSES', 'VOC_SPLITS', 'SINGLE_LABEL_DIR', 'generate_coco_detection',
           'ensure_demo_data', 'export_voc', 'ensure_demo_cls_data', 'export_single_label',
           'ensure_demo_single_label_data']

VAL_IMAGES = 500  # fully labelled validation images of the demos
SHAPES = ('box', 'disc', 'triangle', 'cross')
COLOURS = {
    'red': (40, 40, 220),  # BGR
    'green': (60, 180, 60),
    'blue': (220, 90, 30),
    'yellow': (40, 220, 230),
    'magenta': (200, 60, 200),
    'white': (235, 235, 235),
}
CLASSES = tuple(f'{colour} {shape}' for shape in SHAPES for colour in COLOURS)


def _draw(img: np.ndarray, shape: str, colour: Tuple[int, int, int], x: int, y: int, w: int,
          h: int) -> None:
    if shape == 'box':
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), colour, thickness=-1)
    elif shape == 'disc':
        cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, colour, -1)
    elif shape == 'triangle':
        pts = np.array([[x + w // 2, y], [x, y + h - 1], [x + w - 1, y + h - 1]], np.int32)
        cv2.fillPoly(img, [pts], colour)
    else:
        t = max(w // 4, 2)
        cv2.rectangle(img, (x + w // 2 - t // 2, y), (x + w // 2 + t // 2, y + h - 1), colour, -1)
        t = max(h // 4, 2)
        cv2.rectangle(img, (x, y + h // 2 - t // 2), (x + w - 1, y + h // 2 + t // 2), colour, -1)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(60, 140, size=3)
    img = (base[None, None, :] + rng.normal(0, 12, (size, size, 3))).clip(0, 255).astype(np.uint8)
    for _ in range(rng.integers(6, 14)):  # clutter: grey strokes and specks, not classes
        p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
        grey = int(rng.integers(30, 200))
        cv2.line(img, tuple(int(v) for v in p1), tuple(int(v) for v in p2), (grey, grey, grey),
                 int(rng.integers(1, 4)))
    for _ in range(rng.integers(3, 8)):
        c = rng.integers(0, size, 2)
        grey = int(rng.integers(30, 200))
        cv2.circle(img, (int(c[0]), int(c[1])), int(rng.integers(2, 6)), (grey, grey, grey), -1)
    return img


def _overlaps(box: Tuple[int, int, int, int], boxes: List[Tuple[int, int, int, int]]) -> bool:
    x, y, w, h = box
    for bx, by, bw, bh in boxes:
        iw = min(x + w, bx + bw) - max(x, bx)
        ih = min(y + h, by + bh) - max(y, by)
        if iw > 0 and ih > 0 and iw * ih > 0.3 * min(w * h, bw * bh):
            return True
    return False


def generate_coco_detection(out_dir: str, split: str, num_images: int, seed: int,
                            image_size: int = 256, objects_per_image: Tuple[int, int] = (3, 8),
                            unlabelled_fraction: float = 0.0) -> Dict:
    """Write ``out_dir/{split}/*.png`` and ``out_dir/annotations/instances_{split}.json``.

    Args:
        out_dir (str): dataset root.
        split (str): split name, e.g. ``'train'``.
        num_images (int): number of images.
        seed (int): the seed: the same arguments give the same files.
        image_size (int): side of the square images.
        objects_per_image (tuple[int, int]): inclusive range of objects drawn per image.
        unlabelled_fraction (float): fraction of drawn objects left out of the annotations.

    Returns:
        dict: counts of images, drawn objects and annotated objects.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out_dir, split), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    images, annotations = [], []
    drawn = 0
    for image_id in range(1, num_images + 1):
        img = _background(rng, image_size)
        boxes: List[Tuple[int, int, int, int]] = []
        for _ in range(rng.integers(objects_per_image[0], objects_per_image[1] + 1)):
            side = int(image_size * rng.uniform(0.08, 0.45))  # small to large objects
            w = max(8, int(side * rng.uniform(0.7, 1.3)))
            h = max(8, int(side * rng.uniform(0.7, 1.3)))
            x = int(rng.integers(0, image_size - w))
            y = int(rng.integers(0, image_size - h))
            if _overlaps((x, y, w, h), boxes):
                continue
            boxes.append((x, y, w, h))
            label = int(rng.integers(len(CLASSES)))
            colour_name, shape = CLASSES[label].split(' ')
            _draw(img, shape, COLOURS[colour_name], x, y, w, h)
            drawn += 1
            if rng.random() < unlabelled_fraction:
                continue
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=label + 1, bbox=[x, y, w, h], area=w * h,
                                    iscrowd=0))
        file_name = f'{image_id:06d}.png'
        cv2.imwrite(osp.join(out_dir, split, file_name), img)
        images.append(dict(id=image_id, file_name=file_name, width=image_size,
                           height=image_size))
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]
    with open(osp.join(out_dir, 'annotations', f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return dict(images=num_images, objects=drawn, annotated=len(annotations))


DEMO_SPLITS = {
    # split: (num_images, seed, unlabelled_fraction); a split's first images do not depend on
    # its size (one generator, drawn image by image)
    'train': (400, 0, 0.2),
    'val': (VAL_IMAGES, 1, 0.0),
}


def _num_images(ann_file: str) -> int:
    with open(ann_file) as f:
        return len(json.load(f)['images'])


def _older(path: str, source: str) -> bool:
    """Whether ``path`` is missing or older than ``source`` (derived data to write again)."""
    return not osp.exists(path) or osp.getmtime(path) < osp.getmtime(source)


def ensure_demo_data(root: str = 'data/asl_demo', splits: Dict = None) -> str:
    """Generate the demo dataset into ``root`` unless it is already there (a split of another
    size, from an earlier version, is generated again); return ``root``."""
    splits = DEMO_SPLITS if splits is None else splits
    for split, (num_images, seed, unlabelled) in splits.items():
        ann = osp.join(root, 'annotations', f'instances_{split}.json')
        if osp.exists(ann) and _num_images(ann) == num_images:
            continue
        shutil.rmtree(osp.join(root, split), ignore_errors=True)
        generate_coco_detection(root, split, num_images, seed,
                                unlabelled_fraction=unlabelled)
    return root


VOC_SPLITS = {'train': 'trainval', 'val': 'test'}  # demo split -> VOC split


def export_voc(coco_root: str, voc_root: str, splits: Dict[str, str] = None) -> str:
    """Write the COCO-format dataset under ``coco_root`` as a VOC2007 layout under ``voc_root``
    (``JPEGImages/``, ``Annotations/*.xml``, ``ImageSets/Main/{split}.txt``) for mmpretrain's
    ``VOC`` dataset; every object is marked not difficult. Returns ``voc_root``."""
    splits = VOC_SPLITS if splits is None else splits
    for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(voc_root, sub), exist_ok=True)
    for split, voc_split in splits.items():
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' progress lines
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
    if any(_older(osp.join(voc_root, 'ImageSets', 'Main', f'{voc_split}.txt'),
                  osp.join(root, 'annotations', f'instances_{split}.json'))
           for split, voc_split in VOC_SPLITS.items()):
        shutil.rmtree(voc_root, ignore_errors=True)
        export_voc(root, voc_root)
    return dict(coco=root, voc=voc_root)


SINGLE_LABEL_DIR = 'single_label'  # under the demo root


def export_single_label(coco_root: str, out_root: str, splits: Sequence[str] = ('train', 'val'),
                        margin: float = 0.1) -> Dict[str, int]:
    """Crop every annotated object of the COCO-format dataset under ``coco_root`` into a
    single-label dataset under ``out_root`` in mmpretrain's ``CustomDataset`` layout:
    ``{split}/{image}_{annotation id}.png`` and ``{split}.txt``, one ``file label`` line per
    crop (labels index :data:`CLASSES`), in annotation order.

    Each crop is the object's box grown by ``margin`` times its width and height on every side,
    clipped to the image, at the image's resolution (the pipeline resizes it on load).
    Unannotated objects (the missing labels of the training split) give no crop.

    Args:
        coco_root (str): root written by :func:`generate_coco_detection`.
        out_root (str): the single-label dataset's root.
        splits (Sequence[str]): the splits to crop.
        margin (float): the margin on each side, as a fraction of the box's side.

    Returns:
        dict[str, int]: the number of crops of each split.
    """
    if margin < 0:
        raise ValueError(f'margin must be >= 0, got {margin!r}')
    counts = {}
    for split in splits:
        with open(osp.join(coco_root, 'annotations', f'instances_{split}.json')) as f:
            dataset = json.load(f)
        names = {cat['id']: cat['name'] for cat in dataset['categories']}
        files = {img['id']: img['file_name'] for img in dataset['images']}
        os.makedirs(osp.join(out_root, split), exist_ok=True)
        lines, image_id, img = [], None, None
        for ann in dataset['annotations']:  # grouped by image: each image is read once
            if ann['image_id'] != image_id:
                image_id = ann['image_id']
                img = cv2.imread(osp.join(coco_root, split, files[image_id]))
            x, y, w, h = ann['bbox']
            dx, dy = int(round(margin * w)), int(round(margin * h))
            x0, y0 = max(0, x - dx), max(0, y - dy)
            x1, y1 = min(img.shape[1], x + w + dx), min(img.shape[0], y + h + dy)
            name = f'{osp.splitext(files[image_id])[0]}_{ann["id"]:06d}.png'
            cv2.imwrite(osp.join(out_root, split, name), img[y0:y1, x0:x1])
            lines.append(f'{name} {CLASSES.index(names[ann["category_id"]])}')
        with open(osp.join(out_root, f'{split}.txt'), 'w') as f:
            f.write(''.join(line + '\n' for line in lines))
        counts[split] = len(lines)
    return counts


def ensure_demo_single_label_data(root: str = 'data/asl_demo') -> str:
    """Generate the demo data and its single-label crops (:func:`export_single_label`, into
    ``root/single_label``) unless they are there; return the crops' root."""
    ensure_demo_data(root)
    out_root = osp.join(root, SINGLE_LABEL_DIR)
    if any(_older(osp.join(out_root, f'{split}.txt'),
                  osp.join(root, 'annotations', f'instances_{split}.json'))
           for split in DEMO_SPLITS):
        shutil.rmtree(out_root, ignore_errors=True)
        export_single_label(root, out_root, tuple(DEMO_SPLITS))
    return out_root
