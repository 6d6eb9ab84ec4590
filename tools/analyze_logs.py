"""Draw the paper's Fig. 4 (p_t+, p_t-) and Fig. 9 (gamma-, delta p) from the scalars that
ASL training runs log.

Usage: python tools/analyze_logs.py WORK_DIR [WORK_DIR ...] [--fig 4 9] [--out-dir DIR] [--svg]

The reading and the figures: :mod:`asl_mmdet.analysis.probability_figures`.
"""
from asl_mmdet.analysis.probability_figures import main

if __name__ == '__main__':
    main()
