from .asymmetric_loss import ASLoss
from .asymmetric_loss_single_label import ASLSingleLabelLoss
from .fused_focal_loss import FusedFocalLoss

__all__ = ['ASLoss', 'ASLSingleLabelLoss', 'FusedFocalLoss']
