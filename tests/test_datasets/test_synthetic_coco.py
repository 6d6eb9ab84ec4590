"""The embedded demo dataset: deterministic, valid COCO, with missing labels on purpose; its
single-label crops."""
import hashlib
import json
import os

import cv2
import pytest
from mmpretrain.datasets import CustomDataset
from pycocotools.coco import COCO

from asl_mmdet.datasets.synthetic_coco import (CLASSES, export_single_label,
                                               generate_coco_detection)


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


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco'))
    generate_coco_detection(root, 'train', 6, seed=0, image_size=96, unlabelled_fraction=0.3)
    generate_coco_detection(root, 'val', 4, seed=1, image_size=96)
    return root


def test_single_label_crops_are_the_annotated_objects(coco_root, tmp_path):
    out = str(tmp_path / 'a')
    counts = export_single_label(coco_root, out, margin=0.1)
    for split in ('train', 'val'):
        with open(os.path.join(coco_root, 'annotations', f'instances_{split}.json')) as f:
            dataset = json.load(f)
        annotations = dataset['annotations']
        names = {cat['id']: cat['name'] for cat in dataset['categories']}
        with open(os.path.join(out, f'{split}.txt')) as f:
            lines = [line.split() for line in f.read().splitlines()]
        # one crop per annotated object, in annotation order; unannotated ones give none
        assert counts[split] == len(lines) == len(annotations) > 0
        assert sorted(os.listdir(os.path.join(out, split))) == sorted(n for n, _ in lines)
        for (name, label), ann in zip(lines, annotations):
            assert name.endswith(f'_{ann["id"]:06d}.png')
            assert CLASSES[int(label)] == names[ann['category_id']]
            x, y, w, h = ann['bbox']
            crop = cv2.imread(os.path.join(out, split, name))
            dx, dy = round(0.1 * w), round(0.1 * h)
            assert crop.shape[:2] == (min(96, y + h + dy) - max(0, y - dy),
                                      min(96, x + w + dx) - max(0, x - dx))
    export_single_label(coco_root, str(tmp_path / 'b'))
    assert digest(out) == digest(tmp_path / 'b')


def test_single_label_crops_load_as_custom_dataset(coco_root, tmp_path):
    out = str(tmp_path)
    export_single_label(coco_root, out, splits=('val', ))
    dataset = CustomDataset(data_root=out, ann_file='val.txt', data_prefix='val',
                            metainfo=dict(classes=CLASSES))
    with open(os.path.join(out, 'val.txt')) as f:
        lines = [line.split() for line in f.read().splitlines()]
    assert len(dataset) == len(lines)
    for index, (name, label) in enumerate(lines):
        info = dataset.get_data_info(index)
        assert info['img_path'] == os.path.join(out, 'val', name)
        assert info['gt_label'] == int(label)
    with pytest.raises(ValueError, match='margin must be >= 0'):
        export_single_label(coco_root, out, margin=-0.1)


def test_demo_data_of_another_size_is_generated_again(tmp_path, monkeypatch):
    """A demo root from an earlier version (another validation size) is generated again, and
    the data derived from it (the VOC layout, the single-label crops) with it; a split's first
    images do not depend on its size."""
    from asl_mmdet.datasets import synthetic_coco
    root = str(tmp_path)
    monkeypatch.setattr(synthetic_coco, 'DEMO_SPLITS', dict(train=(4, 0, 0.2), val=(3, 1, 0.0)))
    synthetic_coco.ensure_demo_cls_data(root)
    synthetic_coco.ensure_demo_single_label_data(root)
    with open(os.path.join(root, 'single_label', 'val.txt')) as f:
        crops = f.read().splitlines()
    first = cv2.imread(os.path.join(root, 'val', '000001.png'))
    mtime = os.path.getmtime(os.path.join(root, 'annotations', 'instances_train.json'))

    monkeypatch.setattr(synthetic_coco, 'DEMO_SPLITS', dict(train=(4, 0, 0.2), val=(5, 1, 0.0)))
    synthetic_coco.ensure_demo_cls_data(root)
    synthetic_coco.ensure_demo_single_label_data(root)
    val = COCO(os.path.join(root, 'annotations', 'instances_val.json'))
    assert len(val.getImgIds()) == 5 and len(os.listdir(os.path.join(root, 'val'))) == 5
    assert (cv2.imread(os.path.join(root, 'val', '000001.png')) == first).all()
    # the train split was kept as it was
    assert os.path.getmtime(os.path.join(root, 'annotations', 'instances_train.json')) == mtime
    with open(os.path.join(root, 'voc', 'ImageSets', 'Main', 'test.txt')) as f:
        assert len(f.read().split()) == 5
    with open(os.path.join(root, 'single_label', 'val.txt')) as f:
        new_crops = f.read().splitlines()
    assert len(new_crops) == len(val.getAnnIds()) > len(crops)
    assert new_crops[:len(crops)] == crops
