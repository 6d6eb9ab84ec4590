"""Whether the fused Triton kernel can run for some logits, checked once per process.

The fused path needs: a Triton that compiles the kernels (Triton >= 3.0, which torch >= 2.4
brings; its module imports, and the first compile of each variant succeeds); a CUDA device of
compute capability 7.5 or newer (T4, A100, H100, B200, ...; the kernels are compiled in CI for
sm_75, sm_80, sm_86, sm_89, sm_90, sm_100 and sm_120); and float32, float16 or bfloat16 logits
(bfloat16 from 8.0 on: below, Triton emulates its conversions, code that has never run). Under
``torch.compile`` it also needs ``torch.library.triton_op`` (torch >= 2.6): with an older torch
a compiled loss runs the reference, an eager one the kernel. The first eager call of each kernel
family on a device checks the kernel against the float64 reference on a probe shaped like the
call (:mod:`asl_mmdet.ops.self_check`). Where one is missing or the check fails,
:func:`asl_mmdet.ops.asymmetric_loss` runs the reference and warns once per process, naming
what was missing and how to get the fused path. ``ASL_MMDET_IMPL=triton`` skips these checks
(the kernel runs, and its errors surface); ``ASL_MMDET_IMPL=ref`` skips the kernel.
"""
import importlib
import os
import sys
import traceback
import warnings
from typing import Callable, Dict, Optional, Set, Tuple, Union

import torch
from torch import Tensor

from ..utils import compat
from .contract import FUSED_DTYPES
from .self_check import SELF_CHECK_ENV

__all__ = ['MIN_CAPABILITY', 'MIN_BF16_CAPABILITY', 'NO_TRITON_OP', 'check_fused_path',
           'fused_available', 'self_check_failed', 'missing_for_fused', 'warn_once',
           'fused_or_reference', 'is_triton_compile_error']

MIN_CAPABILITY = (7, 5)
MIN_BF16_CAPABILITY = (8, 0)
_HOW = ('; set ASL_MMDET_IMPL=ref to silence this, or ASL_MMDET_IMPL=triton to force the '
        'kernel and see its errors')
_warned: Set[str] = set()
_compile_failure: Optional[str] = None  # set by the first compile error of the process
# What the checks found: 'environment' and each CUDA device index -> the reason or None
_checked: Dict[object, Optional[str]] = {}
_capabilities: Dict[int, Tuple[int, int]] = {}  # of each CUDA device checked


def _missing_in_environment() -> Optional[str]:
    """What this process lacks for the fused path, whatever the device (checked once)."""
    if 'environment' not in _checked:
        _checked['environment'] = _check_environment()
    return _checked['environment']


def _check_environment() -> Optional[str]:
    reason = compat.kernels_unsupported()
    if reason is not None:
        return reason
    if torch.version.hip is not None:
        return (f'torch {torch.__version__} is a ROCm build: the fused kernels use NVIDIA PTX '
                f'instructions')
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
        _capabilities[index] = capability
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
    if reason is None:
        reason = _missing_for_dtype(pred)
    return reason


def _missing_for_dtype(pred: Tensor) -> Optional[str]:
    """The dtype's part of the checks, from what the device check recorded (traceable)."""
    if pred.dtype not in FUSED_DTYPES:
        return (f'the fused kernel takes float32, float16 or bfloat16 logits, got '
                f'{pred.dtype}')
    capability = _capabilities.get(pred.device.index or 0, MIN_BF16_CAPABILITY)
    if pred.dtype == torch.bfloat16 and capability < MIN_BF16_CAPABILITY:
        # no bf16 arithmetic or conversion instructions there: Triton emulates them, and that
        # code has never run; torch's own bf16 (the reference) is emulated too, but tested
        return (f'bfloat16 logits on compute capability {capability[0]}.{capability[1]}: the '
                f'fused kernel takes bfloat16 from {MIN_BF16_CAPABILITY[0]}.'
                f'{MIN_BF16_CAPABILITY[1]} (Ampere) on; float16 and float32 run it here')
    return None


def fused_available(pred: Tensor) -> bool:
    """Whether the fused kernel can run for ``pred``; if not, for CUDA logits, warn once per
    reason (CPU logits take the reference silently: it is the CPU path)."""
    if not _on_cuda(pred):
        return False
    if compat.is_compiling():
        if not compat.HAS_TRITON_OP:  # torch < 2.6: the reference under compile
            warn_once(NO_TRITON_OP)  # a graph break: Dynamo runs warnings.warn eagerly
            return False
        if 'environment' in _checked and (pred.device.index or 0) in _checked:
            # what eager steps (or an earlier trace) of this process found, and the dtype: no
            # untraceable check, so no graph break
            return (_compile_failure is None and _checked['environment'] is None
                    and _checked[pred.device.index or 0] is None
                    and _missing_for_dtype(pred) is None)
        # the first use of the process is compiled: the checks run now, whatever they cost (a
        # graph break, once; check_fused_path() in an eager step before avoids it)
    reason = missing_for_fused(pred)
    if reason is not None:
        warn_once(reason)
    return reason is None


NO_TRITON_OP = (f'torch {torch.__version__} has no torch.library.triton_op, through which '
                f'torch.compile runs the kernel (torch >= 2.6 has it; eager steps run the '
                f'kernel)')


def check_fused_path(device: Union[int, str, torch.device, None] = None) -> Optional[str]:
    """Run the checks of the fused path for a CUDA device now (the current one by default),
    as the first eager call would: what is missing (warned once), None if nothing is.
    Call it before ``torch.compile(..., fullgraph=True)`` when the first loss call of the
    process is compiled, whose checks would otherwise break the graph once."""
    pred = torch.empty(0, device=torch.device('cuda', torch.cuda.current_device())
                       if device is None else device)
    reason = missing_for_fused(pred)
    if reason is not None:
        warn_once(reason)
    return reason


def warn_once(reason: str) -> None:
    """One warning per reason and process."""
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f'asl_mmdet: running the reference Asymmetric Loss, not the fused '
                      f'kernel: {reason}{_HOW}', RuntimeWarning, stacklevel=3)


def self_check_failed(family: str, pred: Tensor, probe: Callable[[], Optional[str]]) -> bool:
    """Whether the kernels of ``family`` must not run on pred's device: they failed their
    self-check there (:mod:`asl_mmdet.ops.self_check`; ``probe()`` runs at the first eager call
    of the family on the device, unless ``ASL_MMDET_SELF_CHECK=0``; a failure is warned once
    and recorded for the rest of the process), or failed to compile (caught as in
    :func:`fused_or_reference`, while probing or before)."""
    key = (family, pred.device.index or 0)
    if key not in _checked:
        if compat.is_compiling() or os.environ.get(SELF_CHECK_ENV) == '0':
            return False  # the first eager call checks
        error = fused_or_reference(probe, lambda: None)
        _checked[key] = None
        if error is not None:
            device = _device_name(pred.device.index or 0)
            _checked[key] = (
                f'the self-check of the fused {family} failed on {device} (torch '
                f'{torch.__version__}, Triton {_triton_version()}) for {error}; please '
                f'report it')
            warn_once(_checked[key])
    return _checked[key] is not None or _compile_failure is not None


def _device_name(index: int) -> str:
    return f'CUDA device {index} ({torch.cuda.get_device_name(index)}, compute capability ' \
           f'{".".join(map(str, _device_capability(index)))})'


def _triton_version() -> str:
    version = compat.triton_version()
    return 'not installed' if version is None else '.'.join(map(str, version))


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
    if compat.is_compiling():  # Inductor compiles the kernels later, outside this call
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
        print(''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
              file=sys.stderr)
    warn_once(_compile_failure)
    return reference()
