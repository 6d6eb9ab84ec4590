"""MMEngine hooks: the probability analysis and adaptive asymmetry of the ASL paper."""
from .hooks import PROB_SCALARS, AdaptiveAsymmetryHook, ASLProbabilityHook

__all__ = ['ASLProbabilityHook', 'AdaptiveAsymmetryHook', 'PROB_SCALARS']
