"""asl_mmdet: the Asymmetric Loss (Ridnik et al., ICCV 2021) for MMDetection and mmpretrain.

Importing the package registers :class:`ASLoss` in ``mmdet.registry.MODELS`` and the hooks
:class:`ASLProbabilityHook` and :class:`AdaptiveAsymmetryHook` in MMEngine's root ``HOOKS``
(so MMDetection's and mmpretrain's scopes both find them).
"""
from .engine import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .ops import asymmetric_loss
from .version import __version__

__all__ = ['ASLoss', 'ASLProbabilityHook', 'AdaptiveAsymmetryHook', 'asymmetric_loss',
           '__version__']
