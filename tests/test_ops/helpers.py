"""The parameter tables and input makers shared by the reference's and the fused kernel's
tests (tests/test_ops/test_reference.py, tests/test_ops/test_fused.py, and FusedFocalLoss's),
the kernel's per-dtype tolerances (:func:`assert_matches_reference`), and the one answer to
whether this process can run the kernels (:func:`kernels_skip_reason`)."""
import importlib
from typing import Callable, Optional, Tuple

import pytest
import torch
from torch import Tensor

from asl_mmdet.utils import compat
from tests.asl_oracle import one_hot


def kernels_skip_reason() -> Optional[str]:
    """Why the fused kernels can not run in this test process, None if they can: the installed
    Triton (:func:`asl_mmdet.utils.compat.kernels_unsupported`), or no GPU and kernels built
    without the interpreter (``TRITON_INTERPRET=1``, set by ``tests/conftest.py``)."""
    reason = compat.kernels_unsupported()
    if reason is None and not torch.cuda.is_available():
        fused = importlib.import_module('asl_mmdet.ops.fused')
        if not fused.INTERPRETED:
            reason = ('no GPU, and the Triton kernels were built without TRITON_INTERPRET=1 '
                      '(their module was imported before tests/conftest.py could set it)')
    return reason


def skip_without_kernels() -> None:
    """Skip the calling test module where the kernels can not run."""
    reason = kernels_skip_reason()
    if reason is not None:
        pytest.skip(reason, allow_module_level=True)


needs_kernels = pytest.mark.skipif(kernels_skip_reason() is not None,
                                   reason=kernels_skip_reason() or '')

# Whether torch.compile traces the CPU reference's loss call as one graph (fullgraph=True):
# torch 2.1's Dynamo can not (os.environ.get in the dispatch, the ASLParams dataclass, the
# Function's ctx.needs_input_grad) and runs those parts eagerly between graphs; newer torch
# (tested: 2.14.1) traces the whole call.
ONE_GRAPH = compat.TORCH_VERSION[:2] > (2, 1)

# (gamma_pos, gamma_neg, clip, alpha)
PARAMS = [
    (0.0, 4.0, 0.05, None),  # the paper's best MS-COCO setting (Table 2)
    (1.0, 2.0, 0.2, None),
    (2.0, 2.0, 0.0, 0.25),  # focal loss
    (0.0, 0.0, 0.0, None),  # cross-entropy
    (0.0, 0.0, 0.05, None),  # cross-entropy with probability shifting
    (0.5, 1.5, 0.3, 0.4),  # non-integer gammas
    (3.0, 1.0, 0.0, None),
]
WEIGHTS = [None, 'n', 'n1', 'nc']
REDUCTIONS = [('none', None), ('mean', None), ('mean', 37.5), ('mean', 'tensor'), ('sum', None)]
# rtol against the reference in the same dtype, and the error allowed on top of flash-attention's
# criterion, in units of the dtype's eps times the largest value: float32 allows for the GPU's
# approximate exp2 (the reference's own float32 error is a few ulps)
TOLERANCES = {torch.float32: (1e-4, 32), torch.float16: (2e-3, 2), torch.bfloat16: (1.6e-2, 2)}


def make_inputs(shape: Tuple[int, int], target_kind: str, dtype: Optional[torch.dtype] = None,
                seed: int = 0, draw_dtype: torch.dtype = torch.float64,
                device: str = 'cpu') -> Tuple[Tensor, Tensor, Tensor]:
    """Logits ``3 * randn`` and targets of ``target_kind`` (``'index'``: class indices with C
    for background; ``'multi_hot'``; ``'soft'``: labels in [0, 1] with exact 0 and 1 too).

    The logits and soft labels are drawn in ``draw_dtype`` and cast to ``dtype`` (default:
    ``draw_dtype``), so the same seed gives the same values in every ``dtype``.

    Returns:
        tuple[Tensor, Tensor, Tensor]: pred (N, C) and target on ``device``, and the float64
        (N, C) labels on the CPU.
    """
    dtype = draw_dtype if dtype is None else dtype
    g = torch.Generator().manual_seed(seed)
    n, c = shape
    pred = (torch.randn(n, c, generator=g, dtype=draw_dtype) * 3).to(dtype)
    if target_kind == 'index':
        target = torch.randint(0, c + 1, (n, ), generator=g)  # c = background
        dense = one_hot(target, c)
    elif target_kind == 'multi_hot':
        target = (torch.rand(n, c, generator=g) < 0.3).to(dtype)
        dense = target.double()
    else:  # soft labels, with exact 0 and 1 too
        target = torch.rand(n, c, generator=g, dtype=draw_dtype)
        target[:, ::3] = target[:, ::3].round()
        target = target.to(dtype)
        dense = target.double()
    return pred.to(device), target.to(device), dense


def make_weight(kind: Optional[str], n: int, c: int, seed: int = 1,
                dtype: torch.dtype = torch.float64, device: str = 'cpu') -> Optional[Tensor]:
    """Weights in [0, 1) of shape (N,), (N, 1) or (N, C) for kind ``'n'``, ``'n1'``, ``'nc'``;
    None for None."""
    g = torch.Generator().manual_seed(seed)
    shape = {None: None, 'n': (n, ), 'n1': (n, 1), 'nc': (n, c)}[kind]
    return None if shape is None else torch.rand(*shape, generator=g, dtype=dtype).to(device)


def loss_and_grad(fn: Callable[[Tensor], Tensor], pred: Tensor,
                  gradient: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Value of ``fn(pred)`` and the gradient of ``2 * fn(pred).sum()`` (grad_output != 1), or
    of ``fn(pred)`` for the given ``gradient``."""
    pred = pred.detach().clone().requires_grad_()
    loss = fn(pred)
    if gradient is None:
        (loss.sum() * 2.0).backward()
    else:
        loss.backward(gradient)
    return loss.detach(), pred.grad


def assert_matches_reference(actual, ref, oracle):
    """``actual`` (fused) and ``ref`` (reference) in the same dtype, ``oracle`` in float64."""
    assert actual.dtype == ref.dtype and actual.shape == ref.shape == oracle.shape
    if oracle.numel() == 0:
        return
    rtol, ulps = TOLERANCES[actual.dtype]
    finfo = torch.finfo(actual.dtype)
    # a few ulps of the largest value, and of subnormals (tiny float16 gradients)
    floor = ulps * finfo.eps * (oracle.abs().max().item() + 4 * finfo.tiny)
    torch.testing.assert_close(actual, ref, rtol=rtol, atol=floor)
    err = (actual.double() - oracle).abs().max().item()
    ref_err = (ref.double() - oracle).abs().max().item()
    assert err <= 2 * ref_err + floor, (
        f'fused error {err:.3g} > 2 x reference error {ref_err:.3g} + {floor:.3g}')


def check_exact_zeros_below_margin(loss_fn: Callable[..., Tensor], device: str, gamma_neg: float,
                                   detach: bool) -> None:
    """Negatives with ``p <= m`` give an exact 0 loss and gradient, the others positive ones
    (Eq. 5: ``p_m = 0`` below the margin), for ``loss_fn`` with ``asymmetric_loss``'s
    signature."""
    clip = 0.2
    pred = torch.linspace(-12, 6, 1000, dtype=torch.float32, device=device).view(100, 10)
    target = torch.zeros_like(pred)
    loss, grad = loss_and_grad(
        lambda x: loss_fn(x, target, gamma_neg=gamma_neg, clip=clip,
                          detach_focal_weight=detach, reduction='none'), pred)
    below = torch.sigmoid(pred) <= clip
    assert below.any() and (~below).any()
    assert torch.all(loss[below] == 0) and torch.all(grad[below] == 0)
    assert torch.all(loss[~below] > 0) and torch.all(grad[~below] > 0)


def check_extreme_logits_stay_finite(loss_fn: Callable[..., Tensor], device: str,
                                     dtype: torch.dtype, clip: float) -> None:
    """Logits of +-1e4 give finite losses and gradients in ``dtype`` (log space, no eps
    clamp), with the values Eq. 7 gives there."""
    pred = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 30.0]], dtype=dtype, device=device)
    target = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=dtype, device=device)
    loss, grad = loss_and_grad(
        lambda x: loss_fn(x, target, gamma_pos=1, gamma_neg=4, clip=clip, reduction='none'),
        pred)
    assert loss.dtype == grad.dtype == dtype
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    # a positive at z = -1e4: -(1 - p) log p = 1e4
    assert loss[1, 0].item() == pytest.approx(1e4, rel=1e-2)
    # a negative at z = 1e4: p = 1, p_m = 1 - m, loss = -(1 - m)^4 log(m) (1e4 without a margin)
    expected = 1e4 if clip == 0 else -(1 - clip)**4 * torch.log(torch.tensor(clip)).item()
    assert loss[1, 1].item() == pytest.approx(expected, rel=1e-2)


def with_ignored(target: Tensor, seed: int = 2) -> Tuple[Tensor, Tensor, Tensor]:
    """Dense labels with about a quarter of the elements (and one whole column) set to -1
    (unknown).

    Returns:
        tuple[Tensor, Tensor, Tensor]: the labels with -1 entries; the same labels with 0
        there; and the (N, C) float64 CPU mask that is 0 at the ignored elements, 1 elsewhere.
    """
    g = torch.Generator().manual_seed(seed)
    ignored = torch.rand(target.shape, generator=g) < 0.25
    if target.shape[1] > 1:
        ignored[:, 1] = True
    ignored = ignored.to(target.device)
    return (target.masked_fill(ignored, -1.0), target.masked_fill(ignored, 0.0),
            (~ignored).double().cpu())


def class_weights(num_classes: int, seed: int = 3) -> list:
    """A list of ``num_classes`` weights in [0, 2), with exact zeros in every fifth class."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.rand(num_classes, generator=g, dtype=torch.float64) * 2
    weights[::5] = 0
    return weights.tolist()
