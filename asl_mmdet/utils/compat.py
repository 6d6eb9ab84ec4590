"""What differs between the torch and Triton versions asl_mmdet supports: the one place that asks.

The rest of the package calls these names and never tests a version or an attribute itself
(``tests/test_compat.py`` checks that every torch / Triton API the package uses outside this
module exists in the oldest supported stack). Tested stacks (docs/get_started.md):
Python 3.8 + torch 2.1.2 + triton 2.1.0 (OpenMMLab's mmcv 2.1.0 wheels) and Python 3.11 +
torch 2.14.1 + triton 3.8.0.

- :func:`is_compiling`: whether Dynamo is tracing (``torch.compiler.is_compiling``, torch >= 2.3;
  ``torch._utils.is_compiling`` before, which Dynamo folds to True the same way).
- :data:`HAS_TRITON_OP`, :func:`triton_op`, :func:`wrap_triton`: ``torch.library.triton_op`` and
  ``wrap_triton`` (torch >= 2.6), through which ``torch.compile`` sees the fused kernels.
- :data:`HAS_CUSTOM_OP`, :func:`custom_op`: ``torch.library.custom_op`` (torch >= 2.4), the
  opaque op the interpreted kernels are registered as.
- :func:`triton_version`, :func:`kernels_unsupported`: whether the installed Triton compiles the
  fused kernels (``tl.inline_asm_elementwise``, top-level ``tl.exp2`` / ``tl.log2``,
  ``tl.PropagateNan``: Triton >= :data:`MIN_TRITON_FOR_KERNELS`, which torch >= 2.4 brings);
  :func:`compile_report_unsupported`: whether :mod:`asl_mmdet.ops.compile_report` can swap its
  driver and per-device caches (``triton.backends``, ``JITFunction.device_caches``: Triton >=
  :data:`MIN_TRITON_FOR_COMPILE_REPORT`).

Nothing here imports Triton or Dynamo at module level.
"""
import importlib.util
from functools import lru_cache
from typing import Callable, Optional, Tuple

import torch
from packaging.version import Version

__all__ = ['TORCH_VERSION', 'MIN_TRITON_FOR_KERNELS', 'MIN_TRITON_FOR_COMPILE_REPORT',
           'MIN_TORCH_FOR_TRITON_OP', 'HAS_TRITON_OP', 'HAS_CUSTOM_OP', 'is_compiling',
           'triton_op', 'wrap_triton', 'custom_op', 'triton_installed', 'triton_version',
           'kernels_unsupported', 'compile_report_unsupported', 'release']

MIN_TRITON_FOR_KERNELS = (3, 0)
MIN_TRITON_FOR_COMPILE_REPORT = (3, 3)
MIN_TORCH_FOR_TRITON_OP = (2, 6)


def release(version: str) -> Tuple[int, ...]:
    """``'2.1.2+cu121'`` -> ``(2, 1, 2)``."""
    return Version(version).release


TORCH_VERSION = release(torch.__version__)
_library = torch.library
HAS_TRITON_OP = hasattr(_library, 'triton_op') and hasattr(_library, 'wrap_triton')
HAS_CUSTOM_OP = hasattr(_library, 'custom_op')


def _never_compiling() -> bool:
    return False


# bound to torch's own function (not wrapped), so that Dynamo folds the call to True
if hasattr(getattr(torch, 'compiler', None), 'is_compiling'):
    is_compiling: Callable[[], bool] = torch.compiler.is_compiling
elif hasattr(torch._utils, 'is_compiling'):
    is_compiling = torch._utils.is_compiling
else:
    is_compiling = _never_compiling


def triton_op(name: str, fn: Callable, mutates_args) -> Callable:
    """``torch.library.triton_op(name, fn, mutates_args=...)``; torch >= 2.6 only."""
    if not HAS_TRITON_OP:
        raise RuntimeError(f'torch {torch.__version__} has no torch.library.triton_op '
                           f'(torch >= 2.6 has it)')
    return _library.triton_op(name, fn, mutates_args=mutates_args)


def wrap_triton(kernel):
    """``torch.library.wrap_triton(kernel)``; torch >= 2.6 only."""
    return _library.wrap_triton(kernel)


def custom_op(name: str, fn: Callable, mutates_args, fake: Callable) -> Callable:
    """``torch.library.custom_op(name, fn, mutates_args=...)`` with its fake kernel; torch >= 2.4
    only."""
    op = _library.custom_op(name, fn, mutates_args=mutates_args)
    op.register_fake(fake)
    return op


def triton_installed() -> bool:
    """Whether Triton is installed (without importing it)."""
    return importlib.util.find_spec('triton') is not None


@lru_cache(maxsize=None)
def triton_version() -> Optional[Tuple[int, ...]]:
    """The installed Triton's release, None if it is not installed (imports Triton)."""
    if not triton_installed():
        return None
    import triton
    return release(triton.__version__)


def _dotted(version: Tuple[int, ...]) -> str:
    return '.'.join(map(str, version))


def kernels_unsupported() -> Optional[str]:
    """Why the installed Triton can not compile the fused kernels, None if it can."""
    version = triton_version()
    if version is None:
        return 'Triton is not installed (pip install triton, or a torch wheel that brings it)'
    if version < MIN_TRITON_FOR_KERNELS:
        return (f'Triton {_dotted(version)} can not compile the fused kernels: they need '
                f'Triton >= {_dotted(MIN_TRITON_FOR_KERNELS)} (torch >= 2.4 brings it)')
    return None


def compile_report_unsupported() -> Optional[str]:
    """Why :mod:`asl_mmdet.ops.compile_report` can not run with the installed Triton, None if it
    can (it still needs the NVIDIA backend's tools: see ``has_nvidia_backend`` there)."""
    reason = kernels_unsupported()
    version = triton_version()
    if reason is None and version < MIN_TRITON_FOR_COMPILE_REPORT:
        reason = (f'Triton {_dotted(version)}: the compile report needs Triton >= '
                  f'{_dotted(MIN_TRITON_FOR_COMPILE_REPORT)} (its driver and per-device '
                  f'kernel caches)')
    return reason
