"""Writing the tools' matplotlib figures: a PNG, and an SVG next to it on request."""
import os.path as osp
from typing import List

__all__ = ['save_figure']


def save_figure(fig, out_dir: str, name: str, svg: bool = False, dpi: int = 100) -> List[str]:
    """Save ``fig`` as ``out_dir/name.png`` (and ``.svg``), then close it.

    Args:
        fig (matplotlib.figure.Figure): the figure.
        out_dir (str): an existing directory.
        name (str): the file name without extension.
        svg (bool): also write ``name.svg``.
        dpi (int): resolution of the PNG.

    Returns:
        list[str]: the paths written, the PNG first.
    """
    import matplotlib.pyplot as plt  # the tools choose the backend before this runs

    paths = [osp.join(out_dir, f'{name}.{ext}') for ext in (('png', 'svg') if svg else ('png', ))]
    for path in paths:
        fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return paths
