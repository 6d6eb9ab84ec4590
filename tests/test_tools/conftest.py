"""Fixtures of the tools' tests."""
import pytest

from asl_mmdet.datasets.synthetic_coco import generate_coco_detection


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """A tiny generated COCO-format detection dataset (8 training, 3 validation images of
    96 x 96; :data:`tests.run_utils.SMALL` runs on it)."""
    root = str(tmp_path_factory.mktemp('asl_demo'))
    generate_coco_detection(root, 'train', 8, seed=0, image_size=96, unlabelled_fraction=0.2)
    generate_coco_detection(root, 'val', 3, seed=1, image_size=96)
    return root
