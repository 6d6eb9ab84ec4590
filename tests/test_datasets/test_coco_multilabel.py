"""CocoMultiLabel: image-level labels from a COCO instances json, checked against the json,
with crowd annotations counted (the default) or set apart as unknown (``crowd_as_unknown``)."""
import json
import os.path as osp

import pytest

from asl_mmdet.datasets import CocoMultiLabel
from asl_mmdet.datasets.synthetic_coco import CLASSES, generate_coco_detection


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco_ml'))
    generate_coco_detection(root, 'train', 12, seed=3, image_size=64, unlabelled_fraction=0.5)
    ann = osp.join(root, 'annotations', 'instances_train.json')
    with open(ann) as f:
        data = json.load(f)
    # COCO-like twists: category ids not contiguous, an image with no object, crowd annotations:
    # a category only in a crowd (image 1), a category in a crowd and a plain object (image 3),
    # an image with crowds only (image 6)
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] != 2]
    for cat in data['categories']:
        cat['id'] *= 3
    for item in data['annotations']:
        item['category_id'] *= 3
    data['annotations'][0]['iscrowd'] = 1
    first_of_3 = next(a for a in data['annotations'] if a['image_id'] == 3)
    data['annotations'].append(dict(first_of_3, id=1000, iscrowd=1))
    for item in data['annotations']:
        if item['image_id'] == 6:
            item['iscrowd'] = 1
    with open(ann, 'w') as f:
        json.dump(data, f)
    return root, data


def expected_labels(data, keep_empty, iscrowd=(0, 1)):
    """File name -> sorted labels of the annotations with ``iscrowd`` in ``iscrowd``, for the
    images kept (with any annotation, or all with ``keep_empty``)."""
    order = {cat['id']: i for i, cat in enumerate(data['categories'])}
    labels = {img['id']: set() for img in data['images']}
    annotated = {item['image_id'] for item in data['annotations']}
    for item in data['annotations']:
        if item['iscrowd'] in iscrowd:
            labels[item['image_id']].add(order[item['category_id']])
    names = {img['id']: img['file_name'] for img in data['images']}
    return {names[i]: sorted(v) for i, v in labels.items() if i in annotated or keep_empty}


def load(root, **kwargs):
    return CocoMultiLabel(data_root=root, ann_file='annotations/instances_train.json',
                          data_prefix=dict(img_path='train/'), **kwargs)


def by_file(dataset, key):
    return {osp.basename(dataset.get_data_info(i)['img_path']):
            list(dataset.get_data_info(i)[key]) for i in range(len(dataset))}


@pytest.mark.parametrize('keep_empty', [False, True])
def test_labels_match_the_json(coco_root, keep_empty):
    root, data = coco_root
    dataset = load(root, keep_empty=keep_empty)
    expected = expected_labels(data, keep_empty)
    assert len(expected) == (12 if keep_empty else 11)
    assert by_file(dataset, 'gt_label') == expected
    assert dataset.CLASSES == CLASSES
    assert all(osp.exists(dataset.get_data_info(i)['img_path']) for i in range(len(dataset)))
    assert all('gt_label_difficult' not in dataset.get_data_info(i) for i in range(len(dataset)))


@pytest.mark.parametrize('keep_empty', [False, True])
def test_crowd_as_unknown_sets_crowds_apart(coco_root, keep_empty):
    root, data = coco_root
    dataset = load(root, keep_empty=keep_empty, crowd_as_unknown=True)
    plain = expected_labels(data, keep_empty, iscrowd=(0, ))
    crowd = expected_labels(data, keep_empty, iscrowd=(1, ))
    assert by_file(dataset, 'gt_label') == plain
    assert by_file(dataset, 'gt_label_difficult') == crowd
    # the same images as without the option, the crowd-only one included
    assert list(plain) == list(expected_labels(data, keep_empty))
    assert plain['000006.png'] == [] and crowd['000006.png']
    # the fixture has both cases: crowd-only categories, and crowd + plain object (stays positive)
    assert set(crowd['000001.png']) - set(plain['000001.png'])
    assert set(crowd['000003.png']) & set(plain['000003.png'])


def test_bad_arguments(coco_root):
    root, _ = coco_root
    with pytest.raises(TypeError, match="keep_empty must be a bool, got 'yes'"):
        CocoMultiLabel(data_root=root, ann_file='annotations/instances_train.json',
                       keep_empty='yes')
    with pytest.raises(TypeError, match='crowd_as_unknown must be a bool, got 1'):
        load(root, crowd_as_unknown=1)
    with pytest.raises(ValueError, match='metainfo classes has 2 names'):
        CocoMultiLabel(data_root=root, ann_file='annotations/instances_train.json',
                       metainfo=dict(classes=('a', 'b')))
