"""The embedded demo dataset: deterministic, valid COCO, with missing labels on purpose."""
import hashlib
import os

import pytest
from pycocotools.coco import COCO

from asl_mmdet.datasets.synthetic_coco import CLASSES, generate_coco_detection


def digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            with open(os.path.join(dirpath, name), 'rb') as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def test_generator_is_deterministic_and_valid_coco(tmp_path):
    stats = generate_coco_detection(str(tmp_path / 'a'), 'train', 12, seed=3,
                                    unlabelled_fraction=0.25)
    generate_coco_detection(str(tmp_path / 'b'), 'train', 12, seed=3, unlabelled_fraction=0.25)
    assert digest(tmp_path / 'a') == digest(tmp_path / 'b')

    coco = COCO(str(tmp_path / 'a' / 'annotations' / 'instances_train.json'))
    assert len(coco.getImgIds()) == 12 and len(coco.getCatIds()) == len(CLASSES) >= 20
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == stats['annotated'] < stats['objects']  # some objects left unlabelled
    assert stats['annotated'] / stats['objects'] == pytest.approx(0.75, abs=0.2)
    per_image = [len(coco.getAnnIds(imgIds=i)) for i in coco.getImgIds()]
    assert max(per_image) >= 3
    sides = [max(a['bbox'][2:]) for a in anns]
    assert min(sides) < 40 and max(sides) > 80  # small and large objects
    for ann in anns:
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= 256 and y + h <= 256 and w >= 8 and h >= 8


def test_fully_labelled_split(tmp_path):
    stats = generate_coco_detection(str(tmp_path), 'val', 5, seed=1)
    assert stats['annotated'] == stats['objects']
