"""Keep mmpretrain 1.2 importable beside transformers >= 5.

mmpretrain 1.2.0 imports its multimodal models (BLIP, BLIP-2, LLaVA, ...) whenever
``transformers>=4.28`` is installed. Their modules wrap ``from transformers... import`` in a
bare ``except`` that sets the names to None, and transformers 5 moved several of them
(``apply_chunking_to_forward``, ...), so ``class BertPreTrainedModel(PreTrainedModel)`` ends in
``TypeError: NoneType takes no arguments``. That breaks ``import mmpretrain.models`` and, through
MMDetection's ReID models (which import mmpretrain and only catch ImportError),
``import mmdet.models`` too.

:func:`disable_broken_multimodal` is called when :mod:`asl_mmdet` is imported, before either
package imports its models: with transformers >= 5 it makes mmpretrain register its
multimodal models as placeholders (what it does when transformers is missing), so everything
else imports and those models raise an ImportError when built. It warns with the cause and
the fix. It can not help a program that imports ``mmdet.models`` or ``mmpretrain.models``
before :mod:`asl_mmdet`: configs load the plugin first (``custom_imports``), and so do this
repository's tools.
"""
import importlib.metadata
import sys
import warnings
from typing import Optional

__all__ = ['disable_broken_multimodal', 'transformers_version', 'FIX']

FIX = 'pip install "transformers<5"'


def transformers_version() -> Optional[str]:
    """The installed transformers' version, None if it is not installed."""
    try:
        return importlib.metadata.version('transformers')
    except importlib.metadata.PackageNotFoundError:
        return None


def _major(version: str) -> int:
    head = version.split('.')[0]
    return int(head) if head.isdigit() else 0


def _breaks_mmpretrain() -> Optional[str]:
    version = transformers_version()
    if version is None or _major(version) < 5:
        return None
    try:
        mmpretrain_version = importlib.metadata.version('mmpretrain')
    except importlib.metadata.PackageNotFoundError:
        return None
    return version if _major(mmpretrain_version) < 2 else None


def disable_broken_multimodal() -> bool:
    """With transformers >= 5 and mmpretrain 1.x, turn mmpretrain's multimodal models into
    placeholders before ``mmpretrain.models`` is imported. Returns whether it did."""
    version = _breaks_mmpretrain()
    if version is None or 'mmpretrain.models' in sys.modules:
        return False
    from mmpretrain.utils import dependency  # imports no model
    if not dependency.WITH_MULTIMODAL:
        return False
    dependency.WITH_MULTIMODAL = False
    warnings.warn(
        f'transformers {version} is installed: mmpretrain 1.x multimodal models (BLIP, '
        f'BLIP-2, LLaVA, ...) need transformers < 5 and would make `import mmpretrain.models` '
        f'and `import mmdet.models` fail; asl_mmdet disabled them (building one raises an '
        f'ImportError). To use them: {FIX}', stacklevel=2)
    return True

