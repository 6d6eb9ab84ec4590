from .asymmetric_loss import ASLoss

__all__ = ['ASLoss']
