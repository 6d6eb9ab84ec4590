from .adaptive_asymmetry_hook import AdaptiveAsymmetryHook
from .asl_probability_hook import PROB_SCALARS, ASLProbabilityHook

__all__ = ['ASLProbabilityHook', 'AdaptiveAsymmetryHook', 'PROB_SCALARS']
