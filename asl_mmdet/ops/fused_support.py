"""Whether the fused Triton kernel can run for some logits, checked once per process.

The fused path needs: Triton; a torch with ``torch.library.triton_op`` and
``torch.library.wrap_triton`` (torch >= 2.6); a Triton that compiles the kernel (its module
imports, and the first compile of each variant succeeds); a CUDA device of compute capability
7.5 or newer (T4, A100, H100, B200, ...; the kernels are compiled in CI for sm_75, sm_80,
sm_90 and sm_100); and float32, float16 or bfloat16 logits. Where one is missing,
:func:`asl_mmdet.ops.asymmetric_loss` runs the reference and warns once per process, naming
what was missing and how to get the fused path. ``ASL_MMDET_IMPL=triton`` skips these checks
(the kernel runs, and its errors surface); ``ASL_MMDET_IMPL=ref`` skips the kernel.
"""
import importlib
import importlib.util
import sys
import traceback
import warnings
from typing import Callable, Dict, Optional, Set, Tuple

import torch
from torch import Tensor

from .contract import FUSED_DTYPES

__all__ = ['MIN_CAPABILITY', 'fused_available', 'missing_for_fused',
           'warn_once', 'fused_or_reference', 'is_triton_compile_error']

MIN_CAPABILITY = (7, 5)
_HOW = ('; set ASL_MMDET_IMPL=ref to silence this, or ASL_MMDET_IMPL=triton to force the '
        'kernel and see its errors')
_warned: Set[str] = set()
_compile_failure: Optional[str] = None  # set by the first compile error of the process
# What the checks found: 'environment' and each CUDA device index -> the reason or None
_checked: Dict[object, Optional[str]] = {}


def _missing_in_environment() -> Optional[str]:
    """What this process lacks for the fused path, whatever the device (checked once)."""
    if 'environment' not in _checked:
        _checked['environment'] = _check_environment()
    return _checked['environment']


def _check_environment() -> Optional[str]:
    if importlib.util.find_spec('triton') is None:
        return 'Triton is not installed (pip install triton, or a torch wheel that brings it)'
    if not (hasattr(torch.library, 'triton_op') and hasattr(torch.library, 'wrap_triton')):
        return (f'torch {torch.__version__} has no torch.library.triton_op / wrap_triton '
                f'(torch >= 2.6 has them)')
    try:
        importlib.import_module('.fused', __package__)
    except Exception as exc:  # an old or broken Triton
        return (f'the Triton kernels do not import with this Triton ({type(exc).__name__}: '
                f'{exc}); install the Triton your torch was built with')
    return None


def _missing_on_device(index: int) -> Optional[str]:
    """What CUDA device ``index`` lacks (checked once per device)."""
    if index not in _checked:
        capability = _device_capability(index)
        _checked[index] = None
        if capability < MIN_CAPABILITY:
            _checked[index] = (
                f'CUDA device {index} has compute capability {capability[0]}.{capability[1]}; '
                f'the fused kernel needs {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]} or newer')
    return _checked[index]


def _device_capability(index: int) -> Tuple[int, int]:
    return torch.cuda.get_device_capability(index)


def _on_cuda(pred: Tensor) -> bool:
    return pred.is_cuda


def missing_for_fused(pred: Tensor) -> Optional[str]:
    """Why the fused kernel can not run for ``pred`` (None if it can): CPU logits, a missing
    piece of the environment or the device, an earlier compile error, or the dtype."""
    if not _on_cuda(pred):
        return 'the logits are not on a CUDA device'
    reason = _missing_in_environment()
    if reason is None and _compile_failure is not None:
        reason = _compile_failure
    if reason is None:
        reason = _missing_on_device(pred.device.index or 0)
    if reason is None and pred.dtype not in FUSED_DTYPES:
        reason = (f'the fused kernel takes float32, float16 or bfloat16 logits, got '
                  f'{pred.dtype}')
    return reason


def fused_available(pred: Tensor) -> bool:
    """Whether the fused kernel can run for ``pred``; if not, for CUDA logits, warn once per
    reason (CPU logits take the reference silently: it is the CPU path)."""
    if not _on_cuda(pred):
        return False
    if torch.compiler.is_compiling():
        # no checks while Dynamo traces (they would break the graph): what eager steps of
        # this process found, and the dtype
        return (_compile_failure is None and _checked.get('environment') is None
                and _checked.get(pred.device.index or 0) is None
                and pred.dtype in FUSED_DTYPES)
    reason = missing_for_fused(pred)
    if reason is not None:
        warn_once(reason)
    return reason is None


def warn_once(reason: str) -> None:
    """One warning per reason and process."""
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f'asl_mmdet: running the reference Asymmetric Loss, not the fused '
                      f'kernel: {reason}{_HOW}', RuntimeWarning, stacklevel=3)


def is_triton_compile_error(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while Triton compiled a kernel (front end, backend, ptxas)."""
    if type(exc).__module__.startswith('triton'):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return any('/triton/compiler/' in frame.filename or '/triton/backends/' in frame.filename
               for frame in frames)


def fused_or_reference(fused: Callable, reference: Callable):
    """``fused()``; if Triton fails to compile the kernel, warn once, remember it for the rest
    of the process and return ``reference()``. Other errors propagate."""
    global _compile_failure
    if torch.compiler.is_compiling():  # Inductor compiles the kernels later, outside this call
        return fused()
    try:
        return fused()
    except Exception as exc:
        if not is_triton_compile_error(exc):
            raise
        summary = str(exc).strip().splitlines()
        _compile_failure = (f'Triton failed to compile the kernel ({type(exc).__name__}: '
                            f'{summary[0] if summary else ""}); please report it with your '
                            f'torch, triton and GPU')
        print(''.join(traceback.format_exception(exc)), file=sys.stderr)
    warn_once(_compile_failure)
    return reference()
