"""tools/plot_curves.py: the curves of Fig. 2 and Fig. 3 against the paper's Eq. 6 and Eq. 8
written out here in float64 NumPy, p* against an independent scan and a closed form, and the
PNG/SVG files it writes."""
import os

import numpy as np
import pytest

from asl_mmdet.analysis import curves as plot_curves
from tests.run_utils import ROOT, png_size, run_python

SCRIPT = os.path.join(ROOT, 'tools', 'plot_curves.py')


def eq6_loss(p, gamma, m):
    """-L- = -p_m^gamma log(1 - p_m), p_m = max(p - m, 0) (Eq. 5, 6)."""
    p_m = np.maximum(p - m, 0.0)
    return -p_m**gamma * np.log(1 - p_m)


def eq8_grad(p, gamma, m):
    """dL/dz = p_m^gamma [1 / (1 - p_m) - gamma log(1 - p_m) / p_m] p (1 - p) (Eq. 8) where
    p > m; zero below the margin, where p_m = 0 is constant."""
    p = np.asarray(p, dtype=np.float64)
    out = np.zeros_like(p)
    above = p > m
    p, p_m = p[above], p[above] - m
    out[above] = p_m**gamma * (1 / (1 - p_m) - gamma * np.log(1 - p_m) / p_m) * p * (1 - p)
    return out


def p_star_by_scan(gamma, m):
    """argmax of Eq. 8 over (m, 1): a scan with step 1e-6, then the vertex of the parabola
    through the largest point and its neighbours."""
    p = np.arange(m + 1e-6, 1.0, 1e-6)
    g = eq8_grad(p, gamma, m)
    i = int(np.argmax(g))
    assert 0 < i < len(p) - 1
    h, (a, b, c) = p[1] - p[0], g[i - 1:i + 2]
    return p[i] + 0.5 * h * (a - c) / (a - 2 * b + c)


POINTS = np.array([0.01, 0.1, 0.19, 0.201, 0.25, 0.5, 0.7, 0.8394, 0.9, 0.99, 0.999])


def test_loss_curves_match_eq6():
    curves = plot_curves.loss_curves(POINTS, gamma_neg=2.0, clip=0.2)
    assert list(curves) == ['CE', 'focal', 'ASL']
    np.testing.assert_allclose(curves['CE'], -np.log(1 - POINTS), rtol=1e-12)
    np.testing.assert_allclose(curves['focal'], -POINTS**2 * np.log(1 - POINTS), rtol=1e-12)
    np.testing.assert_allclose(curves['ASL'], eq6_loss(POINTS, 2.0, 0.2), rtol=1e-9,
                               atol=1e-300)
    assert (curves['ASL'][POINTS < 0.2] == 0).all()  # hard threshold below m
    assert curves['ASL'][-1] == pytest.approx(-0.799**2 * np.log(0.201), rel=1e-9)


@pytest.mark.parametrize('gamma_neg,clip', [(2.0, 0.2), (4.0, 0.05), (1.5, 0.3)])
def test_gradient_curves_match_eq8(gamma_neg, clip):
    curves = plot_curves.gradient_curves(POINTS, gamma_neg, clip, normalise=False)
    settings = {'CE': (0.0, 0.0), 'CE+PS': (0.0, clip), 'AF': (gamma_neg, 0.0),
                'ASL': (gamma_neg, clip)}
    assert list(curves) == list(settings)
    for name, (g, m) in settings.items():
        np.testing.assert_allclose(curves[name], eq8_grad(POINTS, g, m), rtol=1e-9,
                                   atol=1e-300, err_msg=name)
    np.testing.assert_allclose(curves['CE'], POINTS, rtol=1e-12)  # d(-log(1 - p))/dz = p


def test_normalised_gradients_are_eq8_over_its_max_on_the_grid():
    p = plot_curves.probability_grid()
    assert p[0] == 0 and p[-1] < 1 and len(p) == 2000
    curves = plot_curves.gradient_curves(p, 2.0, 0.2)
    for name, (g, m) in {'CE': (0, 0), 'CE+PS': (0, 0.2), 'AF': (2, 0), 'ASL': (2, 0.2)}.items():
        expected = eq8_grad(p, g, m)
        np.testing.assert_allclose(curves[name], expected / expected.max(), rtol=1e-9,
                                   atol=1e-15, err_msg=name)
        assert curves[name].max() == 1.0
    # CE+PS jumps at p = m (Table 1: not continuous); ASL starts from zero there
    i = int(np.searchsorted(p, 0.2, side='right'))
    assert curves['CE+PS'][i - 1] == 0 and curves['CE+PS'][i] > 0.3
    assert curves['ASL'][i] < 1e-6


def test_p_star_of_the_paper_setting():
    p_star = plot_curves.mislabel_rejection_point(2.0, 0.2)
    assert p_star == pytest.approx(p_star_by_scan(2.0, 0.2), abs=1e-7)
    assert round(p_star, 4) == 0.8394
    g_star = eq8_grad(np.array([p_star]), 2.0, 0.2)[0]
    assert (eq8_grad(np.array([p_star - 1e-3, p_star + 1e-3]), 2.0, 0.2) < g_star).all()


@pytest.mark.parametrize('gamma_neg,clip', [(4.0, 0.05), (1.0, 0.5), (3.0, 0.1), (2.0, 0.01),
                                             (2.0, 0.0)])  # AF's full gradient peaks too
def test_p_star_matches_a_scan_of_eq8(gamma_neg, clip):
    p_star = plot_curves.mislabel_rejection_point(gamma_neg, clip)
    assert clip < p_star < 1
    assert p_star == pytest.approx(p_star_by_scan(gamma_neg, clip), abs=1e-7)


@pytest.mark.parametrize('clip', [0.05, 0.2, 0.4])
def test_p_star_of_ce_with_margin_has_a_closed_form(clip):
    # gamma- = 0: dL/dz = p (1 - p) / (1 + m - p), whose derivative vanishes at
    # p^2 - 2 (1 + m) p + (1 + m) = 0
    expected = (1 + clip) - np.sqrt(clip * (1 + clip))
    assert plot_curves.mislabel_rejection_point(0.0, clip) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize('kwargs,match', [
    (dict(gamma_neg=2.0, clip=-0.1), r'clip \(the probability margin m\) must be in \[0, 1\)'),
    (dict(gamma_neg=2.0, clip=1.0), r'clip .* must be in \[0, 1\), got 1.0'),
    (dict(gamma_neg=-1.0, clip=0.2), 'gamma_neg must be a finite number >= 0, got -1.0'),
    (dict(gamma_neg=float('inf'), clip=0.2), 'gamma_neg must be a finite number >= 0, got inf'),
    (dict(gamma_neg=0.0, clip=0.9), r'peaks at p = m \(its jump\).*no p\*'),  # CE+PS
    (dict(gamma_neg=0.0, clip=0.0), r'grows up to p = 1: there is no p\*'),  # CE: dL/dz = p
])
def test_p_star_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_curves.mislabel_rejection_point(**kwargs)


def test_p_outside_the_unit_interval_is_an_error():
    with pytest.raises(ValueError, match=r'p must lie in \[0, 1\)'):
        plot_curves.negative_loss_and_grad(np.array([0.5, 1.0]), 2.0, 0.2)


def test_main_writes_png_and_svg_and_prints_p_star(tmp_path, capsys):
    out_dir = tmp_path / 'figs'
    plot_curves.main(['--out-dir', str(out_dir), '--svg'])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('p* = 0.839400 (gamma_neg=2, clip=0.2)')
    names = ['fig2_negative_loss.png', 'fig2_negative_loss.svg', 'fig3_negative_gradient.png',
             'fig3_negative_gradient.svg']
    assert lines[1:] == [str(out_dir / name) for name in names]
    for name in names[::2]:
        assert png_size(out_dir / name) == (600, 420)  # 6 x 4.2 inches at 100 dpi
        assert os.path.getsize(out_dir / name) > 20_000
    for name in names[1::2]:
        text = (out_dir / name).read_text()
        assert text.startswith('<?xml') and '<svg' in text and len(text) > 20_000


def test_main_options(tmp_path, capsys):
    plot_curves.main(['--out-dir', str(tmp_path), '--gamma-neg', '4', '--clip', '0.05',
                      '--dpi', '50'])
    out = capsys.readouterr().out
    p_star = plot_curves.mislabel_rejection_point(4.0, 0.05)
    assert out.startswith(f'p* = {p_star:.6f} (gamma_neg=4, clip=0.05)')
    assert png_size(tmp_path / 'fig3_negative_gradient.png') == (300, 210)
    assert not list(tmp_path.glob('*.svg'))


@pytest.mark.parametrize('args,message', [
    (['--clip', '1'], '--clip (the probability margin m) must be in [0, 1), got 1.0'),
    (['--gamma-neg', '-1'], '--gamma-neg must be a finite number >= 0, got -1.0'),
    (['--gamma-neg', 'inf'], '--gamma-neg must be a finite number >= 0, got inf'),
    (['--dpi', '0'], '--dpi must be positive, got 0'),
])
def test_main_rejects_bad_arguments(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        plot_curves.main(args + ['--out-dir', str(tmp_path)])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_main_without_p_star_draws_the_curves_unmarked(tmp_path, capsys):
    plot_curves.main(['--out-dir', str(tmp_path), '--gamma-neg', '0', '--clip', '0'])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ('p* = none (gamma_neg=0, clip=0): the gradient for gamma_neg=0.0, '
                        'clip=0.0 grows up to p = 1: there is no p*')
    for name in ('fig2_negative_loss.png', 'fig3_negative_gradient.png'):
        assert png_size(tmp_path / name) == (600, 420)


def test_runs_as_a_script(tmp_path):
    result = run_python(SCRIPT, '--out-dir', str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'p* = 0.839400' in result.stdout
    assert sorted(os.listdir(tmp_path)) == ['fig2_negative_loss.png',
                                            'fig3_negative_gradient.png']
