"""Reading and comparing training runs: scalar logs, kept predictions, metrics recomputed on
resampled validation images, paired bootstrap intervals, and the verdict rule of
tools/compare.py (Student-t intervals over seeds; none for one seed)."""
from .accuracy import resampled_accuracy
from .bootstrap import Interval, paired_interval, resample_counts
from .coco_ap import ResampledCocoAP, evaluate_boxes
from .logs import read_scalars, training_records
from .multilabel_ap import resampled_map
from .predictions import keep_predictions, load_scorer
from .verdict import paired_difference, seed_interval, verdict_of

__all__ = ['Interval', 'paired_interval', 'resample_counts', 'ResampledCocoAP',
           'evaluate_boxes', 'read_scalars', 'training_records', 'resampled_map',
           'keep_predictions', 'load_scorer', 'resampled_accuracy', 'paired_difference',
           'seed_interval', 'verdict_of']
