"""Asymmetric Loss operators: the plain-PyTorch reference and the dispatch point."""
from .asymmetric_loss import asymmetric_loss, check_asl_params
from .asymmetric_loss_ref import AsymmetricLossRefFunction, asl_loss_and_grad

__all__ = ['asymmetric_loss', 'check_asl_params', 'AsymmetricLossRefFunction',
           'asl_loss_and_grad']
