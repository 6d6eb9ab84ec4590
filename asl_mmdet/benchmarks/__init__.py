"""The benchmarks behind tools/benchmarks/ (scripts that print tables, never timed tests), like
MMDetection's ``mmdet.utils.benchmark`` behind its ``tools/analysis_tools/benchmark.py``:

- :mod:`.timing`: the one timing helper, :func:`time_ms`;
- :mod:`.loss`: the loss, forward + backward, against the alternatives (GPU, or the CPU path);
- :mod:`.train`: whole training steps of configs side by side;
- :mod:`.bootstrap`: the paired bootstrap of tools/compare.py;
- :mod:`.gpu_check`: ``make gpu-check``, the GPU runs in one command.

What the kernels compile to is :mod:`asl_mmdet.ops.compile_report`. The tables are written by
:func:`asl_mmdet.utils.tables.markdown_table`. Nothing here is imported by ``import asl_mmdet``.
"""
