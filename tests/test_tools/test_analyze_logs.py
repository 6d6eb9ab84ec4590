"""tools/analyze_logs.py on synthetic MMEngine work dirs: two runs that log the ASL
probability scalars (one resumed over two timestamps), one that does not."""
import math
import os

import numpy as np
import pytest

from asl_mmdet.analysis import probability_figures as analyze_logs
from tests.run_utils import ROOT, png_size, run_python, write_scalars

SCRIPT = os.path.join(ROOT, 'tools', 'analyze_logs.py')
ITERS = list(range(10, 301, 10))



def asl_scalars(it, gamma0):
    p_pos = 0.2 + 0.6 * (1 - math.exp(-it / 100))
    p_neg = 0.99 - 0.2 * math.exp(-it / 50)
    return dict(asl_p_pos=p_pos, asl_p_neg=p_neg, asl_delta_p=p_pos - p_neg,
                asl_gamma_neg=gamma0 + it / 100)


def train_record(it, **scalars):
    return dict(lr=0.01, loss=1.0 / it, loss_cls=0.5 / it, time=0.5, epoch=1, iter=it, step=it,
                **scalars)


@pytest.fixture
def work_dirs(tmp_path):
    asl = tmp_path / 'atss_asl'  # resumed at iteration 150: two timestamps
    records = [train_record(it, **asl_scalars(it, 2.0)) for it in ITERS]
    write_scalars(asl, '20240101_000000', records[:15] + [{'coco/bbox_mAP': 0.1, 'step': 150}])
    write_scalars(asl, '20240101_010000', records[15:] + [{'coco/bbox_mAP': 0.2, 'step': 300}])
    adaptive = tmp_path / 'atss_asl_adaptive'  # the hook's scalars from the second record on
    write_scalars(adaptive, '20240102_000000',
                  [train_record(10)] + [train_record(it, **asl_scalars(it, 0.0))
                                        for it in ITERS[1:]])
    focal = tmp_path / 'atss_focal'
    write_scalars(focal, '20240103_000000', [train_record(it) for it in ITERS])
    return dict(asl=str(asl), adaptive=str(adaptive), focal=str(focal))


def test_series_read_back_what_the_runs_logged(work_dirs):
    runs = analyze_logs.load_runs([work_dirs['asl'], work_dirs['adaptive']], ['asl', 'ada'])
    iters, p_pos = analyze_logs.series(runs['asl'], 'asl_p_pos')
    np.testing.assert_array_equal(iters, ITERS)  # both timestamps, no validation records
    np.testing.assert_allclose(p_pos, [asl_scalars(it, 2.0)['asl_p_pos'] for it in ITERS],
                               rtol=1e-15)
    iters, gamma = analyze_logs.series(runs['ada'], 'asl_gamma_neg')
    np.testing.assert_array_equal(iters, ITERS[1:])
    np.testing.assert_allclose(gamma, [it / 100 for it in ITERS[1:]], rtol=1e-15)


def test_runs_without_the_keys_are_left_out_with_a_message(work_dirs):
    runs = analyze_logs.load_runs(list(work_dirs.values()), list(work_dirs))
    kept, messages = analyze_logs.runs_with_keys(runs, ('asl_p_pos', 'asl_p_neg'))
    assert list(kept) == ['asl', 'adaptive']
    assert messages == ["run 'focal': no 'asl_p_pos' in its scalars"]
    no_neg = {'asl': [{k: v for k, v in r.items() if k != 'asl_p_neg'} for r in runs['asl']]}
    assert analyze_logs.runs_with_keys(no_neg, ('asl_p_pos', 'asl_p_neg')) == (
        {}, ["run 'asl': no 'asl_p_neg' in its scalars"])


def test_draws_both_figures_and_skips_the_run_without_keys(work_dirs, tmp_path, capsys):
    out_dir = tmp_path / 'out'
    analyze_logs.main([work_dirs['asl'], work_dirs['adaptive'], work_dirs['focal'],
                       '--out-dir', str(out_dir), '--svg'])
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "Fig. 4: skipping run 'atss_focal': no 'asl_p_pos' in its scalars",
        "Fig. 9: skipping run 'atss_focal': no 'asl_gamma_neg' in its scalars"]
    names = ['fig4_probabilities.png', 'fig4_probabilities.svg',
             'fig9_adaptive_asymmetry.png', 'fig9_adaptive_asymmetry.svg']
    assert captured.out.splitlines() == [str(out_dir / name) for name in names]
    assert png_size(out_dir / names[0]) == (700, 450)
    assert png_size(out_dir / names[2]) == (700, 550)
    for name in names:
        assert os.path.getsize(out_dir / name) > 20_000
    for name in names[1::2]:
        text = (out_dir / name).read_text()
        assert text.startswith('<?xml') and '<svg' in text
        assert 'atss_asl_adaptive' in text and 'atss_focal' not in text  # legend labels


def test_fig_option_and_names(work_dirs, tmp_path, capsys):
    out_dir = tmp_path / 'out'
    analyze_logs.main([work_dirs['asl'], '--names', 'run-A', '--fig', '9', '--out-dir',
                       str(out_dir), '--svg'])
    assert capsys.readouterr().out.splitlines() == [
        str(out_dir / 'fig9_adaptive_asymmetry.png'), str(out_dir / 'fig9_adaptive_asymmetry.svg')]
    assert sorted(os.listdir(out_dir)) == ['fig9_adaptive_asymmetry.png',
                                           'fig9_adaptive_asymmetry.svg']
    text = (out_dir / 'fig9_adaptive_asymmetry.svg').read_text()
    assert 'run-A' in text and 'atss_asl' not in text


def test_no_run_with_the_keys_is_an_error(work_dirs, tmp_path):
    out_dir = tmp_path / 'out'
    with pytest.raises(SystemExit) as info:
        analyze_logs.main([work_dirs['focal'], '--fig', '4', '--out-dir', str(out_dir)])
    assert info.value.code == ("analyze_logs.py: error: no run has the scalars of Fig. 4 "
                               "(asl_p_pos, asl_p_neg) among 'atss_focal'")
    assert not out_dir.exists()


def test_a_work_dir_without_scalars_is_an_error(tmp_path):
    with pytest.raises(SystemExit) as info:
        analyze_logs.main([str(tmp_path / 'typo'), '--out-dir', str(tmp_path / 'out')])
    assert 'no */vis_data/scalars.json under work dir' in info.value.code
    assert str(tmp_path / 'typo') in info.value.code


@pytest.mark.parametrize('args,message', [
    (['--fig', '5'], "argument --fig: invalid choice: 5 (choose from 4, 9)"),
    (['--names', 'a', 'b'], '--names has 2 names for 1 work dirs'),
    (['--dpi', '-1'], '--dpi must be positive, got -1'),
])
def test_bad_arguments(args, message, work_dirs, capsys):
    with pytest.raises(SystemExit) as info:
        analyze_logs.main([work_dirs['asl']] + args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_duplicate_run_names_are_an_error(work_dirs):
    with pytest.raises(SystemExit) as info:
        analyze_logs.main([work_dirs['asl'], work_dirs['asl']])
    assert "run names must be unique, got ['atss_asl', 'atss_asl']" in info.value.code


@pytest.mark.slow
def test_script_exit_status(work_dirs, tmp_path):
    out_dir = str(tmp_path / 'out')
    result = run_python(SCRIPT, work_dirs['focal'], '--out-dir', out_dir, timeout=300)
    assert result.returncode == 1
    assert "Fig. 4: skipping run 'atss_focal': no 'asl_p_pos' in its scalars" in result.stderr
    assert 'error: no run has the scalars of Fig. 4' in result.stderr
    result = run_python(SCRIPT, work_dirs['asl'], work_dirs['adaptive'], '--out-dir', out_dir,
                        timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out_dir)) == ['fig4_probabilities.png',
                                            'fig9_adaptive_asymmetry.png']
