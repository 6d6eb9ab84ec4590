"""Fixtures of the head tests."""
import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def mmdet_scope():
    """Heads build their coders, assigners and match costs in the default scope: MMDetection's,
    whatever scope an earlier test left."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield
