"""AdaptiveAsymmetryHook: the update against a hand computation, the clamp at 0, the sign
(a closed loop on a toy multi-label problem), checkpoint state and argument errors. Resuming a
real run and DDP are in tests/test_tools/test_train_asl_hooks.py."""
import math
import statistics

import pytest
import torch
from torch import nn

from asl_mmdet import AdaptiveAsymmetryHook, ASLoss
from asl_mmdet.engine.hooks.adaptive_asymmetry_hook import CHECKPOINT_KEY
from tests.asl_oracle import probability_sums_f64
from tests.test_engine.test_hooks.runner_stub import (Wrapper, batch, logged, make_runner,
                                                      run_iteration)


@pytest.mark.parametrize('gamma_neg,delta_p,expected', [
    (2.0, -0.3, 2.0 + 0.5 * (0.1 + 0.3)),  # gap below the target: gamma_- rises
    (2.0, 0.4, 2.0 + 0.5 * (0.1 - 0.4)),  # above: it falls
    (2.0, 0.1, 2.0),  # on target: unchanged
    (0.05, 0.9, 0.0),  # 0.05 - 0.4 clamped at 0
    (0.0, 0.5, 0.0),
    (3.0, math.nan, 3.0),  # no gap (no positives): unchanged
])
def test_update_rule_by_hand(gamma_neg, delta_p, expected):
    hook = AdaptiveAsymmetryHook(target_gap=0.1, step=0.5)
    assert hook.next_gamma_neg(gamma_neg, delta_p) == pytest.approx(expected, abs=1e-15)


def test_update_is_capped_by_max_gamma_neg():
    hook = AdaptiveAsymmetryHook(target_gap=0.2, step=10.0, max_gamma_neg=4.5)
    assert hook.next_gamma_neg(4.0, -0.5) == 4.5
    assert hook.next_gamma_neg(4.0, 0.25) == pytest.approx(3.5)


def test_iterations_update_every_asloss_from_the_summed_gap():
    """Two ASLoss modules (DDP-like wrapper): after each iteration both hold the gamma_- that
    the update gives for the gap of all their calls; the log shows the gamma_- used."""
    loss_a, loss_b = ASLoss(gamma_neg=2.0), ASLoss(gamma_neg=2.0, clip=0.0)
    hook = AdaptiveAsymmetryHook(target_gap=0.15, step=0.8)
    runner = make_runner(Wrapper(nn.ModuleList([loss_a, loss_b])), [hook], 'adaptive_iters')
    hook.before_train(runner)
    gamma = 2.0
    for it in range(3):
        calls = [(loss_a, *batch(10 + it)), (loss_b, *batch(20 + it, n=5))]
        run_iteration(hook, runner, calls)
        sums = sum(probability_sums_f64(*call[1:]) for call in calls)
        gap = (sums[0] / sums[1] - sums[2] / sums[3]).item()
        assert logged(runner)['asl_gamma_neg'] == pytest.approx(gamma, abs=1e-6)
        assert logged(runner)['asl_delta_p'] == pytest.approx(gap, abs=1e-6)
        gamma = max(0.0, gamma + 0.8 * (0.15 - gap))
        assert hook.gamma_neg == pytest.approx(gamma, abs=1e-6)
        assert loss_a.gamma_neg == loss_b.gamma_neg == hook.gamma_neg
    assert gamma != pytest.approx(2.0, abs=0.05)  # it moved


def toy_closed_loop(update, iters=300):
    """Full-batch SGD on an imbalanced multi-label problem (~18% positives) with gamma_-
    changed after each step by ``update(gamma_neg, delta_p)``; the last 100 gammas and
    gaps."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 16, generator=g)
    y = ((x @ torch.randn(16, 8, generator=g) + 2 * torch.randn(512, 8, generator=g)) > 4)
    torch.manual_seed(0)
    model = nn.Linear(16, 8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = ASLoss(gamma_pos=0.0, gamma_neg=1.0, clip=0.05)
    loss_fn.track_prob_stats = True
    gammas, gaps = [], []
    for _ in range(iters):
        optimizer.zero_grad()
        loss_fn(model(x), y.float()).backward()
        optimizer.step()
        sums = loss_fn.pop_prob_sums()
        gap = (sums[0] / sums[1] - sums[2] / sums[3]).item()
        loss_fn.gamma_neg = update(loss_fn.gamma_neg, gap)
        gammas.append(loss_fn.gamma_neg)
        gaps.append(gap)
    return gammas[-100:], gaps[-100:]


def test_update_converges_where_the_printed_sign_diverges():
    """The hook's update holds Delta p near the target, and a larger target ends at a larger
    gamma_- (the trend of the paper's Table 3); Eq. 11 as printed, with the same step, drives
    gamma_- to 0 and Delta p away from the target."""
    final_gammas = []
    for target in (0.0, 0.2):
        hook = AdaptiveAsymmetryHook(target_gap=target, step=1.0)
        gammas, gaps = toy_closed_loop(hook.next_gamma_neg)
        assert abs(statistics.mean(gaps) - target) < 0.02
        final_gammas.append(statistics.mean(gammas))
    assert final_gammas[1] > final_gammas[0] + 1

    gammas, gaps = toy_closed_loop(lambda gamma, gap: max(0.0, gamma + 1.0 * (gap - 0.2)))
    assert max(gammas) == 0.0 and statistics.mean(gaps) < -0.1


def test_checkpoint_round_trip_overrides_the_config_value():
    hook = AdaptiveAsymmetryHook(target_gap=0.1, step=1.0)
    loss = ASLoss(gamma_neg=2.0)
    runner = make_runner(loss, [hook], 'adaptive_ckpt')
    hook.before_train(runner)
    run_iteration(hook, runner, [(loss, *batch(30))])
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    assert checkpoint[CHECKPOINT_KEY] == dict(gamma_neg=hook.gamma_neg) and hook.gamma_neg != 2

    # a new run: the checkpoint is loaded before before_train (MMEngine's resume order)
    resumed_hook, resumed_loss = AdaptiveAsymmetryHook(target_gap=0.1, step=1.0), ASLoss()
    resumed = make_runner(resumed_loss, [resumed_hook], 'adaptive_ckpt_resumed')
    resumed_hook.after_load_checkpoint(resumed, checkpoint)
    resumed_hook.before_train(resumed)
    assert resumed_loss.gamma_neg == resumed_hook.gamma_neg == hook.gamma_neg

    fresh_hook, fresh_loss = AdaptiveAsymmetryHook(), ASLoss(gamma_neg=3.0)
    fresh_hook.after_load_checkpoint(None, {'state_dict': {}})  # a checkpoint without state
    fresh_hook.before_train(make_runner(fresh_loss, [fresh_hook], 'adaptive_ckpt_fresh'))
    assert fresh_hook.gamma_neg == fresh_loss.gamma_neg == 3.0


def test_losses_starting_at_different_gammas_are_an_error():
    hook = AdaptiveAsymmetryHook()
    model = nn.ModuleList([ASLoss(gamma_neg=2.0), ASLoss(gamma_neg=4.0)])
    with pytest.raises(ValueError, match=r'start at different values \[2.0, 4.0\]'):
        hook.before_train(make_runner(model, [hook], 'adaptive_two_gammas'))


def test_focal_loss_alone_is_not_adapted():
    from mmdet.models.losses import FocalLoss
    hook = AdaptiveAsymmetryHook()
    with pytest.raises(ValueError, match='found no loss to track'):
        hook.before_train(make_runner(FocalLoss(), [hook], 'adaptive_focal'))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(target_gap=1.5), ValueError, r'target_gap must be in \[-1.0, 1.0\], got 1.5'),
    (dict(target_gap='0.1'), TypeError, "target_gap must be a real number, got '0.1'"),
    (dict(step=0.0), ValueError, 'step must be > 0 .*got 0.0'),
    (dict(step=-0.01), ValueError, 'step must be a finite number >= 0.0, got -0.01'),
    (dict(step=math.nan), ValueError, 'step must be a finite number .*got nan'),
    (dict(max_gamma_neg=-1.0), ValueError, 'max_gamma_neg must be a finite number >= 0.0, got -1.0'),
    (dict(max_gamma_neg=math.inf), ValueError, 'max_gamma_neg must be a finite number >= 0.0, got inf'),
])
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdaptiveAsymmetryHook(**kwargs)


def captured_warnings(monkeypatch):
    from asl_mmdet.engine.hooks import adaptive_asymmetry_hook
    messages = []
    monkeypatch.setattr(adaptive_asymmetry_hook, 'print_log',
                        lambda msg, logger=None, level=None: messages.append(msg))
    return messages


def test_checkpoint_without_state_warns(monkeypatch):
    messages = captured_warnings(monkeypatch)
    hook, loss = AdaptiveAsymmetryHook(), ASLoss(gamma_neg=3.0)
    hook.after_load_checkpoint(None, {'meta': {'iter': 40}, 'state_dict': {}})
    hook.before_train(make_runner(loss, [hook], 'adaptive_no_state'))
    assert hook.gamma_neg == loss.gamma_neg == 3.0
    (message, ) = messages
    assert 'iteration 40' in message and CHECKPOINT_KEY in message
    assert "config's value" in message


@pytest.mark.parametrize('source', ['checkpoint', 'config'])
def test_gamma_above_a_lowered_cap_starts_at_the_cap(source, monkeypatch):
    """A resumed run whose config lowered max_gamma_neg (or a config starting above it) runs its
    first iteration at the cap, not above it."""
    messages = captured_warnings(monkeypatch)
    hook = AdaptiveAsymmetryHook(target_gap=0.1, step=1.0, max_gamma_neg=4.0)
    loss = ASLoss(gamma_neg=2.0 if source == 'checkpoint' else 5.0)
    runner = make_runner(loss, [hook], f'adaptive_cap_{source}')
    if source == 'checkpoint':
        hook.after_load_checkpoint(runner, {CHECKPOINT_KEY: dict(gamma_neg=5.5),
                                            'meta': {'iter': 8}})
    hook.before_train(runner)
    assert hook.gamma_neg == loss.gamma_neg == 4.0
    (message, ) = messages
    assert 'above max_gamma_neg=4.0' in message
    assert ('iteration 8' if source == 'checkpoint' else "config's ASLoss") in message


@pytest.mark.parametrize('state', [dict(gamma_neg='x'), dict(gamma_neg=math.nan),
                                   dict(gamma_neg=-1.0), dict(gamma=2.0), 2.0])
def test_corrupt_state_names_the_checkpoint(state):
    hook = AdaptiveAsymmetryHook()
    with pytest.raises(ValueError, match=f'iteration 12.*{CHECKPOINT_KEY}.*finite gamma_neg'):
        hook.after_load_checkpoint(None, {CHECKPOINT_KEY: state, 'meta': {'iter': 12}})
    assert hook.gamma_neg is None
