"""Asymmetric Loss operators.

- :mod:`.contract`: the hyper-parameters (:class:`ASLParams`), the argument checks and
  MMDetection's reduction rules (imports only torch and :mod:`asl_mmdet.utils.compat`);
- :mod:`.reference`: the plain-PyTorch loss (:func:`asymmetric_loss_ref`,
  :class:`AsymmetricLossRefFunction`), the CPU path and the kernel's oracle;
- :mod:`.fused`: the fused Triton kernel (:func:`asymmetric_loss_fused`,
  :class:`AsymmetricLossTritonFunction`), imported on first use of either name (it imports
  Triton), so neither is in ``__all__``;
- :mod:`.single_label`: the single-label (softmax) loss' checks and reference
  (:func:`asymmetric_loss_single_label_ref`);
- :mod:`.fused_single_label`: its fused Triton kernel for class indices
  (:func:`asymmetric_loss_single_label_fused`,
  :class:`AsymmetricLossSingleLabelTritonFunction`), imported on first use like :mod:`.fused`;
- :mod:`.fused_support`: whether the fused path can run here;
- :mod:`.self_check`: the kernels' check against the float64 reference on first use;
- :mod:`.dispatch`: :func:`asymmetric_loss` and :func:`asymmetric_loss_single_label`, which
  pick one (``ASL_MMDET_IMPL``);
- :mod:`.probability_analysis`: the paper's probability analysis (Sec. 2.6);
- :mod:`.compile_report`: what the kernels compile to (a tool, not imported here).
"""
from .contract import ASLParams, check_asl_params
from .dispatch import asymmetric_loss, asymmetric_loss_single_label
from .probability_analysis import PROB_SUM_NAMES, probability_gap, probability_sums
from .reference import AsymmetricLossRefFunction, asl_loss_and_grad, asymmetric_loss_ref
from .single_label import asymmetric_loss_single_label_ref

__all__ = ['asymmetric_loss', 'asymmetric_loss_ref', 'asymmetric_loss_single_label',
           'asymmetric_loss_single_label_ref', 'ASLParams', 'check_asl_params',
           'AsymmetricLossRefFunction', 'asl_loss_and_grad', 'PROB_SUM_NAMES',
           'probability_gap', 'probability_sums']

_FUSED_NAMES = ('asymmetric_loss_fused', 'AsymmetricLossTritonFunction')
_FUSED_SINGLE_LABEL_NAMES = ('asymmetric_loss_single_label_fused',
                             'AsymmetricLossSingleLabelTritonFunction')


def __getattr__(name: str):
    if name in _FUSED_NAMES:
        from . import fused
        return getattr(fused, name)
    if name in _FUSED_SINGLE_LABEL_NAMES:
        from . import fused_single_label
        return getattr(fused_single_label, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
