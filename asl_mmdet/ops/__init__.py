"""Asymmetric Loss operators: the plain-PyTorch reference, the fused Triton kernel, the
dispatch point and the probability analysis. The Triton module is imported on first use (it
imports Triton)."""
from .asymmetric_loss import asymmetric_loss, check_asl_params
from .asymmetric_loss_ref import AsymmetricLossRefFunction, asl_loss_and_grad
from .probability_gap import PROB_SUM_NAMES, probability_gap, probability_sums

__all__ = ['asymmetric_loss', 'check_asl_params', 'AsymmetricLossRefFunction',
           'asl_loss_and_grad', 'asymmetric_loss_fused', 'AsymmetricLossTritonFunction',
           'PROB_SUM_NAMES', 'probability_gap', 'probability_sums']

_TRITON_NAMES = ('asymmetric_loss_fused', 'AsymmetricLossTritonFunction')


def __getattr__(name: str):
    if name in _TRITON_NAMES:
        from . import asymmetric_loss_triton
        return getattr(asymmetric_loss_triton, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
