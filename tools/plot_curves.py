"""Draw the paper's Fig. 2 (loss of a negative) and Fig. 3 (its gradient) and print p*.

Usage: python tools/plot_curves.py [--gamma-neg 2] [--clip 0.2] [--out-dir DIR] [--svg] [--dpi 100]

The curves, p* and the figures: :mod:`asl_mmdet.analysis.curves`.
"""
from asl_mmdet.analysis.curves import main

if __name__ == '__main__':
    main()
