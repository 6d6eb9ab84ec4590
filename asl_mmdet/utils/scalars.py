"""Kept for existing imports: the scalars reader lives in :mod:`asl_mmdet.analysis.logs`."""
from asl_mmdet.analysis.logs import find_scalars_files, read_scalars, training_records

__all__ = ['find_scalars_files', 'read_scalars', 'training_records']
