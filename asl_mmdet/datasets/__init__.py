"""Datasets: the COCO multi-label dataset and the unknown-label transform for mmpretrain, and
the embedded demo data."""
import importlib.util

__all__ = []

if importlib.util.find_spec('mmpretrain') is not None:
    from .coco_multilabel import CocoMultiLabel  # noqa: F401
    from .transforms import UnknownLabelsToScore  # noqa: F401
    __all__ += ['CocoMultiLabel', 'UnknownLabelsToScore']
