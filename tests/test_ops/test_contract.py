"""The argument contract: :class:`ASLParams` and MMDetection's reduction rules."""
import dataclasses

import pytest
import torch

from asl_mmdet.ops import ASLParams
from asl_mmdet.ops.contract import DEFAULT_EPS, class_weight_tensor, reduction_scale


def test_params_defaults_are_the_papers_coco_setting():
    params = ASLParams()
    assert (params.gamma_pos, params.gamma_neg, params.clip, params.alpha,
            params.detach_focal_weight) == (0.0, 4.0, 0.05, None, False)


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ASLParams().gamma_neg = 2.0


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(gamma_pos=-1.0), ValueError, r'gamma_pos must be a finite number >= 0, got -1.0'),
    (dict(gamma_neg='4'), TypeError, r"gamma_neg must be a real number, got '4' \(str\)"),
    (dict(clip=1.0), ValueError, r'clip must be in \[0, 1\), got 1.0'),
    (dict(alpha=float('nan')), ValueError, r'alpha must be in \[0, 1\], got nan'),
    (dict(detach_focal_weight='False'), TypeError, 'detach_focal_weight must be a bool'),
])
def test_params_are_checked_when_built(kwargs, error, match):
    with pytest.raises(error, match=match):
        ASLParams(**kwargs)


@pytest.mark.parametrize('clip,alpha,expected', [
    (None, None, (1.0, 2.0, 0.0, None, True)),
    (0.05, 1, (1.0, 2.0, 0.05, 1.0, True)),
])
def test_function_args(clip, alpha, expected):
    args = ASLParams(1, 2, clip, alpha, True).function_args()
    assert args == expected
    assert all(type(a) is float for a in args[:3])


@pytest.mark.parametrize('reduction,avg_factor,expected', [
    ('none', None, (0.5, None)),
    ('sum', None, (0.5, None)),
    ('mean', None, (0.5 / 12, None)),
    ('mean', 4.0, (0.5 / (4.0 + DEFAULT_EPS), None)),
])
def test_reduction_scale(reduction, avg_factor, expected):
    assert reduction_scale(reduction, avg_factor, 0.5, DEFAULT_EPS, 12) == expected


def test_tensor_avg_factor_divides_after_the_reduction():
    avg_factor = torch.tensor(4.0)
    scale, divide_by = reduction_scale('mean', avg_factor, 0.5, DEFAULT_EPS, 12)
    assert scale == 0.5 and divide_by is avg_factor
    assert reduction_scale('mean', None, 1.0, DEFAULT_EPS, 0) == (1.0, None)  # empty: no NaN


def test_class_weight_crosses_to_the_device_once():
    """Issue 20, item 8: the same class_weight on the same device and dtype is one tensor,
    made once (a module's class_weight is not copied host-to-device at every step)."""
    pred = torch.zeros(2, 3)
    first = class_weight_tensor((1.0, 2.0, 0.5), pred)
    assert class_weight_tensor([1.0, 2.0, 0.5], pred) is first
    assert first.tolist() == [1.0, 2.0, 0.5] and first.dtype == torch.float32
    double = class_weight_tensor((1.0, 2.0, 0.5), pred.double())
    assert double is not first and double.dtype == torch.float64
    assert class_weight_tensor((1.0, 2.0, 0.25), pred) is not first
