"""The benchmarks' one timing helper: CUDA events on a GPU, ``torch.utils.benchmark.Timer`` on
the CPU."""
from typing import Callable, List

import torch
from torch.utils.benchmark import Timer

__all__ = ['time_ms']


def time_ms(step: Callable[[], object], device: str, warmup: int = 0, iters: int = 1,
            repeats: int = 1) -> List[float]:
    """Milliseconds per call of ``step()``, one value per repeat.

    Calls ``step`` ``warmup`` times untimed, then times ``repeats`` runs of ``iters`` calls
    each. On CUDA each run is timed with CUDA events, the device idle before it (synchronised);
    on the CPU with ``torch.utils.benchmark.Timer`` at torch's current thread count.

    Args:
        step (callable): what is timed; it resets any state itself (e.g. ``x.grad = None``).
        device (str): ``'cuda'`` or ``'cpu'``.
        warmup (int): untimed calls first, >= 0.
        iters (int): calls per timed run, >= 1.
        repeats (int): timed runs, >= 1 (their spread is the noise).

    Returns:
        list[float]: ``repeats`` values, each a run's mean milliseconds per call.
    """
    if warmup < 0 or iters < 1 or repeats < 1:
        raise ValueError(f'time_ms needs warmup >= 0, iters >= 1 and repeats >= 1, got '
                         f'warmup={warmup}, iters={iters}, repeats={repeats}')
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        if device == 'cuda':
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            torch.cuda.synchronize()
            start.record()
            for _ in range(iters):
                step()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / iters)
        else:
            timer = Timer(stmt='step()', globals={'step': step},
                          num_threads=torch.get_num_threads())
            times.append(timer.timeit(iters).mean * 1e3)
    return times
