"""asl_mmdet.analysis.report's picture: the mean over seeds drawn bold, and the panels a run's
scalars allow (the paper's Fig. 4 only where ASLProbabilityHook logged it)."""
import matplotlib
import pytest

from asl_mmdet.analysis.report import plot_comparison, seed_mean
from asl_mmdet.analysis.runs import Run, group_runs
from tests.run_utils import png_size

matplotlib.use('Agg')


def test_seed_mean_is_taken_at_the_steps_every_seed_logged():
    curves = [([10, 20, 30], [1.0, 2.0, 3.0]), ([10, 20], [3.0, 4.0]),
              ([20, 10, 40], [6.0, 2.0, 9.0])]
    assert seed_mean(curves) == ([10, 20], [pytest.approx(2.0), pytest.approx(4.0)])
    assert seed_mean([]) == ([], [])
    assert seed_mean([([10], [1.0]), ([20], [2.0])]) == ([], [])


def runs(probabilities):
    """Two configs of two seeds, three evaluations each."""
    found = []
    for config, level in (('focal', 0.2), ('asl', 0.25)):
        for seed in range(2):
            train = [dict(iter=i, step=i, loss=2.0 / i, time=0.3) for i in (10, 20, 30)]
            if probabilities:
                for record in train:
                    record.update(asl_p_pos=0.3, asl_p_neg=0.9, asl_delta_p=-0.6)
            val = [{'coco/bbox_mAP': level * step / 30, 'step': step} for step in (10, 20, 30)]
            found.append(Run(f'w/{config}_seed{seed}', f'{config}_seed{seed}', train, val))
    return group_runs(found)


@pytest.mark.parametrize('probabilities, size', [(True, (1800, 1040)), (False, (1800, 540))])
def test_figure_has_the_probability_row_when_logged(probabilities, size, tmp_path):
    out = str(tmp_path / 'compare.png')
    plot_comparison(runs(probabilities), None, out, title='ATSS, ResNet-18')
    assert png_size(out) == size
