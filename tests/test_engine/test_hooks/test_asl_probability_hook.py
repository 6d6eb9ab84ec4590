"""ASLProbabilityHook on a stand-in runner: the logged p_t+, p_t-, Delta p and gamma_- against a
float64 hand computation; FocalLoss tracking; intervals; registry scopes; argument errors."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from asl_mmdet import ASLoss, ASLProbabilityHook
from asl_mmdet.engine import PROB_SCALARS
from tests.asl_oracle import probability_sums_f64
from tests.run_utils import run_python
from tests.test_engine.test_hooks.runner_stub import (TwoHeads, Wrapper, batch, logged,
                                                      make_runner, run_iteration)

def test_logs_hand_computed_gap_over_levels_and_losses():
    """Two ASLoss modules behind a DDP-like wrapper, called per 'FPN level': the logged values
    are the ratios of the summed sums of every call."""
    loss_a, loss_b = ASLoss(gamma_neg=3.0), ASLoss(gamma_neg=1.0, clip=0.0)
    hook = ASLProbabilityHook()
    runner = make_runner(Wrapper(TwoHeads(loss_a, loss_b)), [hook], 'prob_hook_two_losses')
    hook.before_train(runner)
    calls = [(loss_a, *batch(0)), (loss_a, *batch(1, n=4)), (loss_b, *batch(2, c=5))]
    run_iteration(hook, runner, calls)
    sums = sum(probability_sums_f64(*call[1:]) for call in calls)
    p_pos, p_neg = (sums[0] / sums[1]).item(), (sums[2] / sums[3]).item()
    values = logged(runner)
    assert values['asl_p_pos'] == pytest.approx(p_pos, rel=1e-6)
    assert values['asl_p_neg'] == pytest.approx(p_neg, rel=1e-6)
    assert values['asl_delta_p'] == pytest.approx(p_pos - p_neg, abs=1e-6)
    assert values['asl_gamma_neg'] == 3.0  # the first loss's
    assert loss_a.pop_prob_sums() is None and loss_b.pop_prob_sums() is None  # consumed

    # a batch of background only: no p_t+ and no gap this time, p_t- and gamma_- still logged
    run_iteration(hook, runner, [(loss_a, *batch(3, background_only=True))])
    hub = runner.message_hub
    assert len(hub.get_scalar(PROB_SCALARS['p_pos']).data[0]) == 1
    assert len(hub.get_scalar(PROB_SCALARS['delta_p']).data[0]) == 1
    assert len(hub.get_scalar(PROB_SCALARS['p_neg']).data[0]) == 2
    expected = probability_sums_f64(*batch(3, background_only=True))
    assert logged(runner)['asl_p_neg'] == pytest.approx((expected[2] / expected[3]).item(),
                                                        rel=1e-6)

    hook.after_train(runner)
    assert not loss_a.track_prob_stats and not loss_b.track_prob_stats


def test_interval_tracks_only_the_logged_iterations():
    loss = ASLoss()
    hook = ASLProbabilityHook(interval=2)
    runner = make_runner(loss, [hook], 'prob_hook_interval')
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert loss.track_prob_stats is False
    loss(*batch(0))
    hook.after_train_iter(runner, 0)
    assert not logged(runner) and loss.pop_prob_sums() is None
    runner.iter = 1
    run_iteration(hook, runner, [(loss, *batch(1))])
    expected = probability_sums_f64(*batch(1))
    assert logged(runner)['asl_p_pos'] == pytest.approx((expected[0] / expected[1]).item(),
                                                        rel=1e-6)


def test_stale_sums_from_outside_training_are_dropped():
    loss = ASLoss()
    hook = ASLProbabilityHook()
    runner = make_runner(loss, [hook], 'prob_hook_stale')
    hook.before_train(runner)
    loss.track_prob_stats = True
    loss(*batch(5, n=30))  # e.g. a loss computed during validation
    run_iteration(hook, runner, [(loss, *batch(6))])
    expected = probability_sums_f64(*batch(6))
    assert logged(runner)['asl_p_neg'] == pytest.approx((expected[2] / expected[3]).item(),
                                                        rel=1e-6)


def test_focal_loss_is_tracked_from_its_inputs():
    from mmdet.models.losses import FocalLoss
    focal = FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25)
    hook = ASLProbabilityHook()
    runner = make_runner(Wrapper(focal), [hook], 'prob_hook_focal')
    hook.before_train(runner)
    pred, target, weight = batch(7)
    hook.before_train_iter(runner, 0)
    out = focal(pred, target, weight, avg_factor=3.0)
    focal(pred[:4], target=target[:4], weight=weight[:4])  # keyword arguments too
    hook.after_train_iter(runner, 0)
    torch.testing.assert_close(out, FocalLoss(gamma=2.0, alpha=0.25)(pred, target, weight,
                                                                     avg_factor=3.0))
    sums = probability_sums_f64(pred, target, weight) + probability_sums_f64(pred[:4], target[:4], weight[:4])
    values = logged(runner)
    assert values['asl_delta_p'] == pytest.approx(
        (sums[0] / sums[1] - sums[2] / sums[3]).item(), abs=1e-6)
    assert values['asl_gamma_neg'] == 2.0
    hook.after_train(runner)
    assert not focal._forward_hooks  # removed


@pytest.mark.parametrize('loss_cfg, gamma', [
    (dict(type='CrossEntropyLoss', use_sigmoid=True), 0.0),
    (dict(type='FocalLoss', gamma=2.0, alpha=0.25), 2.0),
])
def test_mmpretrain_baselines_are_tracked(loss_cfg, gamma):
    """The classification baselines (BCE, focal loss) get the same curves, with the dense
    (N, C) targets mmpretrain's multi-label heads pass. The scope is explicit: a registry
    builds from the default scope of the runner the process made last, and in MMDetection's
    scope ``CrossEntropyLoss`` is MMDetection's (not tracked: ATSS's centerness loss is one)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loss = MODELS.build(loss_cfg)
    assert type(loss).__module__.startswith('mmpretrain.')
    hook = ASLProbabilityHook()
    runner = make_runner(Wrapper(loss), [hook], f'prob_hook_{loss_cfg["type"]}')
    hook.before_train(runner)
    pred, target, _ = batch(8)
    dense = F.one_hot(target, 6)[:, :5].float()
    hook.before_train_iter(runner, 0)
    loss(pred, dense, avg_factor=9)
    hook.after_train_iter(runner, 0)
    sums = probability_sums_f64(pred, dense)
    values = logged(runner)
    assert values['asl_p_pos'] == pytest.approx((sums[0] / sums[1]).item(), rel=1e-6)
    assert values['asl_p_neg'] == pytest.approx((sums[2] / sums[3]).item(), rel=1e-6)
    assert values['asl_gamma_neg'] == gamma
    hook.after_train(runner)
    assert not loss._forward_hooks


def test_softmax_cross_entropy_is_not_tracked():
    from mmpretrain.registry import MODELS
    hook = ASLProbabilityHook()
    runner = make_runner(Wrapper(MODELS.build(dict(type='CrossEntropyLoss'))), [hook],
                         'prob_hook_softmax')
    with pytest.raises(ValueError, match='found no loss to track'):
        hook.before_train(runner)


@pytest.mark.parametrize('interval', [0, -1, 1.5, '2', True])
def test_bad_interval_is_named(interval):
    with pytest.raises(ValueError, match=f'interval must be an int >= 1, got {interval!r}'):
        ASLProbabilityHook(interval=interval)


def test_model_without_tracked_loss_is_an_error():
    hook = ASLProbabilityHook()
    with pytest.raises(ValueError, match='found no loss to track in the model Linear'):
        hook.before_train(make_runner(nn.Linear(2, 2), [hook], 'prob_hook_none'))


def test_two_probability_hooks_are_an_error():
    from asl_mmdet import AdaptiveAsymmetryHook
    hook, other = ASLProbabilityHook(), AdaptiveAsymmetryHook()
    with pytest.raises(ValueError, match='can not share a model with AdaptiveAsymmetryHook'):
        hook.before_train(make_runner(ASLoss(), [hook, other], 'prob_hook_two'))


def test_configs_build_the_hooks_in_mmdet_and_mmpretrain_scopes(tmp_path):
    """In a fresh interpreter, custom_imports alone registers the hooks, and both scopes'
    registries (children of MMEngine's root HOOKS) build them."""
    config = tmp_path / 'hooks_cfg.py'
    config.write_text(
        "custom_imports = dict(imports=['asl_mmdet'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='ASLProbabilityHook', interval=5),\n"
        "                dict(type='AdaptiveAsymmetryHook', target_gap=0.2, step=0.01)]\n")
    code = f'''
import sys
from mmengine.config import Config
from mmengine.registry import DefaultScope, HOOKS
cfg = Config.fromfile({str(config)!r})
assert 'asl_mmdet' in sys.modules
for scope in ('mmdet', 'mmpretrain'):
    with DefaultScope.overwrite_default_scope(scope), \
            HOOKS.switch_scope_and_registry(scope) as registry:
        assert registry.scope == scope, registry.scope
        hooks = [registry.build(hook) for hook in cfg.custom_hooks]
        print(scope, [(type(h).__module__, type(h).__name__) for h in hooks],
              hooks[0].interval, hooks[1].target_gap, hooks[1].step)
'''
    result = run_python('-c', code, cwd=str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ['mmdet', 'mmpretrain']
    for line in lines:
        assert ("('asl_mmdet.engine.hooks.asl_probability_hook', 'ASLProbabilityHook')" in line
                and 'AdaptiveAsymmetryHook' in line and line.endswith('5 0.2 0.01'))
