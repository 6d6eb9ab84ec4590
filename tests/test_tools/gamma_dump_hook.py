"""A test-only hook that dumps, per rank, what each training iteration saw: the images, the
local (not yet all-reduced) probability sums of every ASLoss and the gamma_neg used. Imported by
the DDP test's config through custom_imports."""
import json
import os.path as osp

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from asl_mmdet import ASLoss

__all__ = ['ASLTestGammaDumpHook']


@HOOKS.register_module()
class ASLTestGammaDumpHook(Hook):
    priority = 'ABOVE_NORMAL'  # after_train_iter before AdaptiveAsymmetryHook pops the sums

    def _write(self, runner, record):
        path = osp.join(runner.work_dir, f'gamma_rank{get_rank()}.jsonl')
        with open(path, 'a') as f:
            f.write(json.dumps(record) + '\n')

    def _losses(self, runner):
        return [m for m in runner.model.modules() if isinstance(m, ASLoss)]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._write(runner, dict(
            iter=runner.iter + 1,
            img_ids=[sample.img_id for sample in data_batch['data_samples']],
            local_sums=[loss._prob_sums.tolist() for loss in self._losses(runner)],
            gamma_used=[loss.gamma_neg for loss in self._losses(runner)]))

    def after_train(self, runner):
        self._write(runner, dict(final_gamma=[loss.gamma_neg for loss in self._losses(runner)]))
