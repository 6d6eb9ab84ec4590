"""The paper's loss and gradient curves of a negative sample, p*, and their figures
(``tools/plot_curves.py``).

Usage: python tools/plot_curves.py [--gamma-neg 2] [--clip 0.2] [--out-dir DIR] [--svg] [--dpi 100]

Fig. 2 (``fig2_negative_loss.png``): the loss of a negative sample vs its probability ``p``
for cross-entropy, focal loss and ASL (Eq. 6). Fig. 3 (``fig3_negative_gradient.png``): the
gradient ``dL/dz`` of a negative (Eq. 8), each curve divided by its maximum over ``p``, for
CE (``m = gamma- = 0``), CE+PS (``m > 0, gamma- = 0``), AF (``m = 0, gamma- > 0``) and ASL
(``m > 0, gamma- > 0``), with ``p*`` marked on the ASL curve: the mislabel-rejection point
where ``d/dp(dL/dz) = 0``; the gradient of a negative with ``p > p*`` shrinks as ``p`` grows.

The curves come from the closed-form terms the library trains with
(:func:`asl_mmdet.ops.reference.negative_terms`), in float64.
"""
import argparse
import os
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from asl_mmdet.ops.contract import check_number  # noqa: E402
from asl_mmdet.ops.reference import negative_terms  # noqa: E402
from .figures import save_figure  # noqa: E402

__all__ = ['negative_loss_and_grad', 'loss_curves', 'gradient_curves',
           'mislabel_rejection_point', 'plot_loss_curves', 'plot_gradient_curves', 'main']

FIG2_NAME = 'fig2_negative_loss'
FIG3_NAME = 'fig3_negative_gradient'


def check_params(gamma_neg: float, clip: float) -> None:
    """Raise ValueError unless ``gamma_neg`` is a finite number >= 0 and ``0 <= clip < 1``."""
    check_number('gamma_neg', gamma_neg, 0)
    check_number('clip (the probability margin m)', clip, 0, 1, high_inclusive=False)


def probability_grid(num: int = 2000) -> np.ndarray:
    """``num`` probabilities evenly spaced on [0, 1), where every curve is finite."""
    return np.linspace(0.0, 1.0, num, endpoint=False)


def negative_loss_and_grad(p: np.ndarray, gamma_neg: float,
                           clip: float) -> Tuple[np.ndarray, np.ndarray]:
    """The loss of a negative sample, ``-L-`` (Eq. 6), and its gradient ``dL/dz`` (Eq. 8).

    With ``p_m = max(p - m, 0)``: ``-L- = -p_m^g log(1 - p_m)`` and
    ``dL/dz = p_m^g [1 / (1 - p_m) - g log(1 - p_m) / p_m] p (1 - p)``, computed by the
    library's reference at the logits ``z = logit(p)``.

    Args:
        p (np.ndarray): probabilities in [0, 1) of any shape.
        gamma_neg (float): focusing parameter of negatives, ``gamma-``.
        clip (float): probability margin ``m`` (0 for none).

    Returns:
        tuple[np.ndarray, np.ndarray]: the loss and the gradient, float64, shaped like ``p``.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.size and not (p.min() >= 0 and p.max() < 1):
        raise ValueError(f'p must lie in [0, 1), got values in [{p.min()}, {p.max()}]')
    z = torch.logit(torch.from_numpy(p))
    loss, grad = negative_terms(z, gamma_neg, clip, detach_focal_weight=False, need_grad=True)
    return loss.numpy(), grad.numpy()


def loss_curves(p: np.ndarray, gamma_neg: float, clip: float) -> Dict[str, np.ndarray]:
    """Fig. 2: the loss of a negative sample for CE, focal loss and ASL.

    Args:
        p (np.ndarray): probabilities in [0, 1).
        gamma_neg (float): ``gamma`` of focal loss and ``gamma-`` of ASL.
        clip (float): probability margin ``m`` of ASL.

    Returns:
        dict[str, np.ndarray]: ``'CE'`` (``gamma = m = 0``), ``'focal'`` (``m = 0``) and
        ``'ASL'``.
    """
    settings = dict(CE=(0.0, 0.0), focal=(gamma_neg, 0.0), ASL=(gamma_neg, clip))
    return {name: negative_loss_and_grad(p, g, m)[0] for name, (g, m) in settings.items()}


def gradient_curves(p: np.ndarray, gamma_neg: float, clip: float,
                    normalise: bool = True) -> Dict[str, np.ndarray]:
    """Fig. 3: the gradient ``dL/dz`` of a negative sample for CE, CE+PS, AF and ASL.

    Args:
        p (np.ndarray): probabilities in [0, 1).
        gamma_neg (float): ``gamma-`` of AF and ASL.
        clip (float): probability margin ``m`` of CE+PS and ASL.
        normalise (bool): divide each curve by its maximum over ``p``.

    Returns:
        dict[str, np.ndarray]: ``'CE'`` (``m = gamma- = 0``), ``'CE+PS'`` (``gamma- = 0``),
        ``'AF'`` (``m = 0``) and ``'ASL'``.
    """
    settings = {'CE': (0.0, 0.0), 'CE+PS': (0.0, clip), 'AF': (gamma_neg, 0.0),
                'ASL': (gamma_neg, clip)}
    curves = {name: negative_loss_and_grad(p, g, m)[1] for name, (g, m) in settings.items()}
    if normalise:
        curves = {name: grad / grad.max() for name, grad in curves.items()}
    return curves


def _gradient_slope(p: float, gamma_neg: float, clip: float, step: float) -> float:
    """``d/dp (dL/dz)`` at ``p`` by a central difference."""
    _, grad = negative_loss_and_grad(np.array([p - step, p + step]), gamma_neg, clip)
    return float(grad[1] - grad[0]) / (2 * step)


def mislabel_rejection_point(gamma_neg: float, clip: float, num: int = 10001,
                             tol: float = 1e-12) -> float:
    """``p*``: where the gradient of a negative peaks, ``d/dp(dL/dz) = 0`` (paper Sec. 2.5).

    Above ``p*`` the gradient shrinks as ``p`` grows: negatives the network scores very high,
    likely mislabeled, are rejected. Found by scanning ``dL/dz`` on ``num`` points of
    ``[m, 1)``, then bisecting the sign of its derivative (a central difference) between
    the neighbours of the largest point.

    Args:
        gamma_neg (float): focusing parameter of negatives, ``gamma- >= 0``.
        clip (float): probability margin ``m``, in [0, 1).
        num (int): points of the scan.
        tol (float): width of the final bracket.

    Returns:
        float: ``p*`` in (m, 1).

    Raises:
        ValueError: if the gradient has no maximum inside (m, 1): it grows up to ``p = 1``
            (cross-entropy) or is largest at its jump at ``p = m`` (a large margin without
            focusing).
    """
    check_params(gamma_neg, clip)
    grid = np.linspace(clip, 1.0, num, endpoint=False)
    _, grad = negative_loss_and_grad(grid, gamma_neg, clip)
    peak = int(np.argmax(grad))
    if peak <= 1:
        raise ValueError(f'the gradient for gamma_neg={gamma_neg}, clip={clip} peaks at '
                         f'p = m (its jump), not inside (m, 1): there is no p*')
    if peak == num - 1:
        raise ValueError(f'the gradient for gamma_neg={gamma_neg}, clip={clip} grows up to '
                         'p = 1: there is no p*')
    lo, hi = grid[peak - 1], grid[peak + 1]
    step = 1e-6
    if not (_gradient_slope(lo, gamma_neg, clip, step) > 0 >
            _gradient_slope(hi, gamma_neg, clip, step)):
        raise RuntimeError(f'no sign change of d/dp(dL/dz) in [{lo}, {hi}] for '
                           f'gamma_neg={gamma_neg}, clip={clip}')
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if _gradient_slope(mid, gamma_neg, clip, step) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def plot_loss_curves(gamma_neg: float, clip: float, out_dir: str, svg: bool = False,
                     dpi: int = 100) -> List[str]:
    """Draw Fig. 2 into ``out_dir``; return the paths written (PNG, then SVG if asked)."""
    p = probability_grid()
    curves = loss_curves(p, gamma_neg, clip)
    labels = dict(CE='CE', focal=f'focal loss ($\\gamma$={gamma_neg:g})',
                  ASL=f'ASL ($\\gamma_-$={gamma_neg:g}, m={clip:g})')
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, loss in curves.items():
        ax.plot(p, loss, label=labels[name])
    if clip > 0:
        ax.axvline(clip, color='0.6', ls=':', lw=1)
        ax.text(clip, 0.5, 'm ', color='0.4', ha='right', transform=ax.get_xaxis_transform())
    ax.set(xlim=(0, 1), ylim=(0, max(3.0, 1.1 * curves['ASL'].max())),
           xlabel='p (probability of a negative sample)', ylabel='loss of a negative, $-L_-$',
           title='Loss of a negative sample (paper Fig. 2)')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, out_dir, FIG2_NAME, svg, dpi)


def plot_gradient_curves(gamma_neg: float, clip: float, p_star: Optional[float], out_dir: str,
                         svg: bool = False, dpi: int = 100) -> List[str]:
    """Draw Fig. 3 into ``out_dir``, ``p_star`` marked (if any); return the paths written."""
    p = probability_grid()
    curves = gradient_curves(p, gamma_neg, clip, normalise=False)
    scale = {name: grad.max() for name, grad in curves.items()}
    labels = {'CE': 'CE (m = $\\gamma_-$ = 0)',
              'CE+PS': f'CE+PS (m = {clip:g}, $\\gamma_-$ = 0)',
              'AF': f'AF (m = 0, $\\gamma_-$ = {gamma_neg:g})',
              'ASL': f'ASL (m = {clip:g}, $\\gamma_-$ = {gamma_neg:g})'}
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, grad in curves.items():
        ax.plot(p, grad / scale[name], label=labels[name], lw=2.2 if name == 'ASL' else 1.5)
    if p_star is not None:
        y_star = float(negative_loss_and_grad(np.array([p_star]), gamma_neg, clip)[1][0]
                       / scale['ASL'])
        ax.plot([p_star], [y_star], 'ko', ms=5, zorder=3)
        ax.axvline(p_star, color='0.4', ls='--', lw=1)
        ax.annotate(f'p* = {p_star:.3f}', (p_star, y_star), xytext=(-8, 8),
                    textcoords='offset points', ha='right')
    if clip > 0:
        ax.axvline(clip, color='0.6', ls=':', lw=1)
        ax.text(clip, 0.5, 'm ', color='0.4', ha='right', transform=ax.get_xaxis_transform())
    ax.set(xlim=(0, 1), ylim=(0, 1.08), xlabel='p (probability of a negative sample)',
           ylabel='dL/dz, normalised (divided by its max over p)',
           title='Gradient of a negative sample (paper Fig. 3)')
    ax.grid(alpha=0.3)
    ax.legend(loc='upper left', fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_dir, FIG3_NAME, svg, dpi)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Draw the paper's Fig. 2 (loss) and Fig. 3 (gradient) of a negative "
        'sample and print p*')
    parser.add_argument('--gamma-neg', type=float, default=2.0,
                        help='gamma- of ASL and AF, and gamma of focal loss (paper: 2)')
    parser.add_argument('--clip', type=float, default=0.2,
                        help='probability margin m of ASL and CE+PS (paper: 0.2)')
    parser.add_argument('--out-dir', default='work_dirs/figures',
                        help='where to write the figures')
    parser.add_argument('--svg', action='store_true', help='also write SVG files')
    parser.add_argument('--dpi', type=int, default=100, help='PNG resolution')
    args = parser.parse_args(argv)
    try:
        check_number('--gamma-neg', args.gamma_neg, 0)
        check_number('--clip (the probability margin m)', args.clip, 0, 1, high_inclusive=False)
    except ValueError as error:
        parser.error(str(error))
    if args.dpi <= 0:
        parser.error(f'--dpi must be positive, got {args.dpi}')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    """Write both figures and print their paths and ``p*``."""
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    setting = f'gamma_neg={args.gamma_neg:g}, clip={args.clip:g}'
    try:
        p_star = mislabel_rejection_point(args.gamma_neg, args.clip)
        print(f'p* = {p_star:.6f} ({setting}): the gradient of a negative with p > p* '
              'shrinks as p grows (likely mislabeled)')
    except ValueError as error:
        p_star = None
        print(f'p* = none ({setting}): {error}')
    paths = plot_loss_curves(args.gamma_neg, args.clip, args.out_dir, args.svg, args.dpi)
    paths += plot_gradient_curves(args.gamma_neg, args.clip, p_star, args.out_dir, args.svg,
                                  args.dpi)
    for path in paths:
        print(path)


if __name__ == '__main__':
    main()
