"""What the loss modules share: registering them where both OpenMMLab toolboxes look, and
checking ``reduction_override``."""
import importlib.util

from mmdet.registry import MODELS

from asl_mmdet.ops.contract import REDUCTIONS

__all__ = ['register_loss', 'check_reduction_override']


def register_loss(cls: type) -> type:
    """Register ``cls`` in MMDetection's ``MODELS`` and, if mmpretrain is installed, in
    mmpretrain's: the two are siblings (both children of MMEngine's), so ``type='NAME'`` builds
    the class in a detection config's scope and in a classification config's. A decorator."""
    MODELS.register_module(module=cls)
    if importlib.util.find_spec('mmpretrain') is not None:
        from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
        MMPRETRAIN_MODELS.register_module(module=cls)
    return cls


def check_reduction_override(reduction_override) -> None:
    """Raise ``ValueError`` unless ``reduction_override`` is None or one of
    ``('none', 'mean', 'sum')``."""
    if reduction_override not in (None, ) + REDUCTIONS:
        raise ValueError(f'reduction_override must be None or one of {REDUCTIONS}, '
                         f'got {reduction_override!r}')
