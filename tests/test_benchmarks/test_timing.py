"""The benchmarks' timing helper on the CPU: one value per repeat, each the mean of its calls,
against a step of known duration."""
import time

import pytest

from asl_mmdet.benchmarks.timing import time_ms


def test_one_value_per_repeat_each_the_mean_of_its_calls():
    calls = []

    def step():
        calls.append(1)
        time.sleep(0.004)

    times = time_ms(step, 'cpu', warmup=2, iters=3, repeats=4)
    assert len(times) == 4
    assert all(4.0 <= t < 40.0 for t in times), times
    # warm-up calls, then each repeat's calls (torch's Timer adds at least 2 of its own warm-up
    # calls per repeat)
    assert len(calls) >= 2 + 4 * 3


@pytest.mark.parametrize('kwargs', [dict(iters=0), dict(repeats=0), dict(warmup=-1)])
def test_bad_counts(kwargs):
    with pytest.raises(ValueError, match='time_ms needs warmup >= 0, iters >= 1 and repeats >= 1'):
        time_ms(lambda: None, 'cpu', **kwargs)
