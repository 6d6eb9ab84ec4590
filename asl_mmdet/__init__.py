"""asl_mmdet: the Asymmetric Loss (Ridnik et al., ICCV 2021) for MMDetection and mmpretrain.

Importing the package registers :class:`ASLoss`, :class:`ASLSingleLabelLoss` and
:class:`FusedFocalLoss` (MMDetection's focal loss on the same dispatch) in
``mmdet.registry.MODELS`` and ``mmpretrain.registry.MODELS``, :class:`CocoMultiLabel` in
mmpretrain's ``DATASETS``, :class:`UnknownLabelsToScore` in mmpretrain's ``TRANSFORMS``, and
the hooks :class:`ASLProbabilityHook` and :class:`AdaptiveAsymmetryHook` in MMEngine's root
``HOOKS`` (so MMDetection's and mmpretrain's scopes both find them).
"""
from .utils.mmpretrain_compat import disable_broken_multimodal

disable_broken_multimodal()  # before anything imports mmdet.models or mmpretrain.models

from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .models import *  # noqa: E402,F401,F403
from .ops import asymmetric_loss, asymmetric_loss_single_label  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['ASLoss', 'ASLSingleLabelLoss', 'FusedFocalLoss', 'ASLProbabilityHook',
           'AdaptiveAsymmetryHook', 'asymmetric_loss', 'asymmetric_loss_single_label',
           '__version__']
