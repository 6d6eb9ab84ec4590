from .asymmetric_loss import ASLoss
from .asymmetric_loss_single_label import ASLSingleLabelLoss

__all__ = ['ASLoss', 'ASLSingleLabelLoss']
