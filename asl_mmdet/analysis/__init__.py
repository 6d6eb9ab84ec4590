"""Reading and comparing training runs: scalar logs, kept predictions, metrics recomputed on
resampled validation images, paired bootstrap intervals (what tools/compare.py prints)."""
from .accuracy import resampled_accuracy
from .bootstrap import Interval, paired_interval, resample_counts
from .coco_ap import ResampledCocoAP, evaluate_boxes
from .logs import read_scalars, training_records
from .multilabel_ap import resampled_map
from .predictions import keep_predictions, load_scorer

__all__ = ['Interval', 'paired_interval', 'resample_counts', 'ResampledCocoAP',
           'evaluate_boxes', 'read_scalars', 'training_records', 'resampled_map',
           'keep_predictions', 'load_scorer', 'resampled_accuracy']
