"""What the hook tests share: a stand-in runner, a DDP-like wrapper, seeded batches, one
training iteration and the scalars the hooks logged."""
from types import SimpleNamespace

import torch
from mmengine.logging import MessageHub
from torch import nn

from asl_mmdet.engine import PROB_SCALARS

KEYS = ('asl_p_pos', 'asl_p_neg', 'asl_delta_p', 'asl_gamma_neg')


class TwoHeads(nn.Module):
    def __init__(self, loss_a, loss_b):
        super().__init__()
        self.loss_a, self.loss_b = loss_a, loss_b


class Wrapper(nn.Module):
    """Stands in for MMDistributedDataParallel: the model is its ``module``."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def make_runner(model, hooks, name):
    return SimpleNamespace(model=model, hooks=hooks, iter=0,
                           message_hub=MessageHub.get_instance(name))


def batch(seed, n=9, c=5, background_only=False):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, c, generator=g) * 2
    target = torch.full((n, ), c) if background_only else torch.randint(0, c + 1, (n, ),
                                                                        generator=g)
    weight = (torch.rand(n, generator=g) > 0.2).float()
    return pred, target, weight


def run_iteration(hook, runner, calls):
    """One training iteration: ``calls`` are (loss, pred, target, weight) forward calls."""
    hook.before_train_iter(runner, runner.iter)
    for loss, pred, target, weight in calls:
        loss(pred.clone().requires_grad_(), target, weight).backward()
    hook.after_train_iter(runner, runner.iter)
    runner.iter += 1


def logged(runner):
    return {key: runner.message_hub.get_scalar(PROB_SCALARS[key.replace('asl_', '')]).current()
            for key in KEYS if PROB_SCALARS[key.replace('asl_', '')] in
            runner.message_hub.log_scalars}
