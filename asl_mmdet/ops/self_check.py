"""The fused kernels' self-check on first use: the user's variant against the float64 reference.

The first eager call of each kernel family (the multi-label and the single-label loss) on a CUDA
device runs the kernel on a probe of 64 rows shaped like the call (its number of classes, dtype,
target form, weight kind, class weights, hyper-parameters and reduction, so the same compiled
variant) holding extreme logits (+-1e4, +-100, +-88, 0), a NaN logit, ignored (-1) labels and
random weights, and compares the loss and the gradient with the reference computed in float64
on the same inputs. A mismatch beyond the tolerance of the dtype (the parity tests' criterion:
a relative error and a floor of a few ulps of the largest value; NaN only where the reference
has NaN) means the kernel computes something else on this GPU, driver or Triton than under
the test suite: the dispatch warns once, naming the device, torch, Triton, the variant and the
error, and runs the reference for that family and device for the rest of the process.
``ASL_MMDET_SELF_CHECK=0`` turns the check off. It costs one probe launch and one float64
reference per family and device (:mod:`asl_mmdet.ops.fused_support` runs it).
"""
import contextlib
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

__all__ = ['SELF_CHECK_ENV', 'PROBE_ROWS', 'TOLERANCES', 'probe_multi_label',
           'probe_single_label', 'compare', 'describe_variant']

SELF_CHECK_ENV = 'ASL_MMDET_SELF_CHECK'
PROBE_ROWS = 64
# relative error and floor (in ulps of the dtype times the largest value): tests/test_ops
TOLERANCES = {torch.float32: (1e-4, 32), torch.float16: (2e-3, 4), torch.bfloat16: (1.6e-2, 4)}
_EXTREMES = (1e4, -1e4, 100.0, -100.0, 88.0, -88.0, 0.0)


def _probe_logits(num_cols: int, dtype: torch.dtype, device) -> Tuple[Tensor, Tensor]:
    """Logits with the extremes, and the same with one NaN (compared apart: a reduced loss
    with a NaN would hide every other element's error)."""
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(PROBE_ROWS, num_cols, generator=generator)
    for row, value in enumerate(_EXTREMES):  # each extreme in a row of its own, and mixed
        logits[row] = value
        logits[len(_EXTREMES) + row, row % num_cols] = value
    with_nan = logits.clone()
    with_nan[2 * len(_EXTREMES), num_cols // 2] = float('nan')
    return logits.to(device=device, dtype=dtype), with_nan.to(device=device, dtype=dtype)


def _probe_like(tensor: Optional[Tensor], num_cols: int, device, kind: str) -> Optional[Tensor]:
    """A probe tensor of ``tensor``'s kind: None, weights (N,), (N, 1), (N, C), class indices
    (N,) or dense labels (N, C) with -1 and soft values."""
    if tensor is None:
        return None
    generator = torch.Generator().manual_seed(1)
    if kind == 'target' and not tensor.dtype.is_floating_point:  # C is the background
        return torch.randint(0, num_cols + 1, (PROBE_ROWS, ), generator=generator).to(
            device=device, dtype=tensor.dtype)
    shape = (PROBE_ROWS, ) + tuple(tensor.shape[1:])
    if kind == 'target':
        labels = (torch.rand(shape, generator=generator) < 0.3).float()
        labels[::5] = torch.rand(shape, generator=generator)[::5]  # soft rows
        labels[1::7, ::3] = -1.0  # unknown
        return labels.to(device=device, dtype=tensor.dtype)
    return torch.rand(shape, generator=generator).to(device=device, dtype=tensor.dtype)


def compare(name: str, actual: Tensor, expected: Tensor, dtype: torch.dtype) -> Optional[str]:
    """None if ``actual`` matches the float64 ``expected`` within ``dtype``'s tolerance, else
    what differs and by how much."""
    rtol, ulps = TOLERANCES[dtype]
    actual, expected = actual.detach().double(), expected.detach()
    nan = torch.isnan(expected)
    if not torch.equal(torch.isnan(actual), nan):
        return f'{name}: NaN at {int((torch.isnan(actual) != nan).sum())} other elements'
    actual, expected = actual[~nan], expected[~nan]
    if expected.numel() == 0:
        return None
    floor = ulps * torch.finfo(dtype).eps * expected.abs().max().item()
    error = (actual - expected).abs() - rtol * expected.abs()
    worst = error.max().item()
    if worst > floor or not torch.isfinite(actual).equal(torch.isfinite(expected)):
        index = int(error.argmax())
        return (f'{name}: {actual[index].item():.6g} where the float64 reference has '
                f'{expected[index].item():.6g} (tolerance: relative {rtol:g} + {floor:.3g})')
    return None


def _run(loss_fn: Callable, pred: Tensor, kwargs: Dict) -> Tuple[Tuple[Tensor, ...], Tensor]:
    """``loss_fn(pred, *kwargs.values())`` (positional, in the order of the loss' signature)
    and the gradient of its loss."""
    pred = pred.detach().requires_grad_()
    out = loss_fn(pred, *kwargs.values())
    outs = out if isinstance(out, tuple) else (out, )
    grad, = torch.autograd.grad(outs[0].sum(), pred)
    return tuple(o.detach() for o in outs), grad


def describe_variant(pred: Tensor, kwargs: Dict) -> str:
    """The call as the kernel variant sees it: dtype, classes, tensor kinds, options."""
    parts = [f'{str(pred.dtype).replace("torch.", "")} logits, C={pred.shape[1]}']
    for name, value in kwargs.items():
        if isinstance(value, Tensor):
            parts.append(f'{name} {str(value.dtype).replace("torch.", "")} '
                         f'{tuple(value.shape[1:]) or "(N,)"}')
        elif value is not None and value is not False:
            parts.append(f'{name}={value}')
    return ', '.join(parts)


def _check(fused: Callable, reference: Callable, probes: Tuple[Tensor, ...],
           kwargs: Dict) -> Optional[str]:
    with _plain_autograd(probes[0].device):
        return _compare_on_probes(fused, reference, probes, kwargs)


@contextlib.contextmanager
def _plain_autograd(device: torch.device):
    """Gradients on, inference mode and autocast off, whatever the caller's step is in (the
    first call may come from a validation step under ``torch.no_grad()`` or from an
    ``--amp`` step)."""
    with torch.inference_mode(False), torch.enable_grad(), \
            torch.autocast(device_type=device.type, enabled=False):
        yield


def _compare_on_probes(fused: Callable, reference: Callable, probes: Tuple[Tensor, ...],
                       kwargs: Dict) -> Optional[str]:
    probes = tuple(probe.clone() for probe in probes)  # made outside inference mode
    kwargs = {k: v.clone() if isinstance(v, Tensor) else v for k, v in kwargs.items()}
    double = {k: v.double() if isinstance(v, Tensor) and v.dtype.is_floating_point else v
              for k, v in kwargs.items()}
    for probe, what in zip(probes, ('', ' (NaN probe)')):
        outs, grad = _run(fused, probe, kwargs)
        ref_outs, ref_grad = _run(reference, probe.double(), double)
        pairs = list(zip(('loss', 'probability sums'), outs, ref_outs))
        for name, actual, expected in pairs + [('gradient', grad, ref_grad)]:
            reason = compare(name + what, actual, expected, probe.dtype)
            if reason is not None:
                return f'the variant [{describe_variant(probe, kwargs)}]: {reason}'
    return None


def probe_multi_label(fused: Callable, reference: Callable, pred: Tensor, target: Tensor,
                      weight: Optional[Tensor], **kwargs) -> Optional[str]:
    """Run the multi-label kernel ``fused`` on a probe shaped like the call and compare with
    ``reference`` in float64: None if they agree, else the error. ``kwargs``: the call's other
    arguments, in the order of the loss' signature (both are called positionally)."""
    num_cols, device = pred.shape[1], pred.device
    probes = _probe_logits(num_cols, pred.dtype, device)
    kwargs = dict(target=_probe_like(target, num_cols, device, 'target'),
                  weight=_probe_like(weight, num_cols, device, 'weight'), **kwargs)
    if isinstance(kwargs.get('avg_factor'), Tensor):
        kwargs['avg_factor'] = torch.full_like(kwargs['avg_factor'], 37.5)
    return _check(fused, reference, probes, kwargs)


def probe_single_label(fused: Callable, reference: Callable, pred: Tensor, target: Tensor,
                       weight: Optional[Tensor], **kwargs) -> Optional[str]:
    """:func:`probe_multi_label` for the single-label kernel (class indices in [0, C))."""
    num_cols, device = pred.shape[1], pred.device
    probes = _probe_logits(num_cols, pred.dtype, device)
    generator = torch.Generator().manual_seed(1)
    kwargs = dict(target=torch.randint(0, num_cols, (PROBE_ROWS, ),
                                       generator=generator).to(device, target.dtype),
                  weight=_probe_like(weight, num_cols, device, 'weight'), **kwargs)
    if isinstance(kwargs.get('avg_factor'), Tensor):
        kwargs['avg_factor'] = torch.full_like(kwargs['avg_factor'], 37.5)
    return _check(fused, reference, probes, kwargs)
