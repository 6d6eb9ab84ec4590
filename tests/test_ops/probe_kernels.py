"""Kernels for the tests of the fused kernels' pieces: deliberately wrong ones (the
self-check's tests) and a probe of the MUFU helpers. Imported only where the kernels run under
the interpreter (it imports Triton and the kernels' module)."""
import triton
import triton.language as tl

from asl_mmdet.ops import fused

# the multi-label kernel's ln 2, 1% off: the margin's loss and gradient off by as much
WRONG_LN2 = tl.constexpr(0.7)


@triton.jit
def wrong_log1p(u):
    """The single-label kernel's log1p, 1% too large."""
    return 1.01 * tl.log(1.0 + u)


@triton.jit
def mufu_probe(x_ptr, out_ptr, n, FUNCTION: tl.constexpr, BLOCK: tl.constexpr):
    """``out = f(x)`` for f the fused kernels' ``_exp2`` (0), ``_log2`` (1) or ``_rcp`` (2)
    (interpreter only: the helpers are looked up in their module when the probe runs)."""
    offsets = tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask, other=1.0)
    if FUNCTION == 0:
        y = fused._exp2(x)
    elif FUNCTION == 1:
        y = fused._log2(x)
    else:
        y = fused._rcp(x)
    tl.store(out_ptr + offsets, y, mask=mask)
