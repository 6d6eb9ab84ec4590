"""How a distributed tool run ends (asl_mmdet.utils.runner_setup.shutdown_distributed)."""
import os
import subprocess
import sys
import textwrap

import pytest

from tests.run_utils import ENV, ROOT, free_port

RUNNER_SETUP = os.path.join(ROOT, 'asl_mmdet', 'utils', 'runner_setup.py')

# The shape of a training run's end, reduced: a reference to the process group that outlives
# destroy_process_group() (DDP's, in a real run) and collectives on tensors made in Python,
# whose work objects gloo's worker threads free after wait() returned. Ended by
# destroy_process_group() alone, this aborted in 16 of 20 runs on a 2-core machine
# ("terminate called without an active exception").
SCRIPT = textwrap.dedent('''
    import importlib.util
    import sys

    import torch
    import torch.distributed as dist

    # the module alone, not the package: nothing else's exit handlers between the last
    # collective and the interpreter's finalization, where the race is
    spec = importlib.util.spec_from_file_location('runner_setup', sys.argv[1])
    runner_setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner_setup)

    dist.init_process_group('gloo')
    group = dist.group.WORLD
    for _ in range(20):
        tensor = torch.ones(256)
        dist.all_reduce(tensor)
        del tensor
    sys.stdout.write(f'rank {dist.get_rank()} done\\n')  # one write: the ranks share a pipe
    runner_setup.shutdown_distributed()
    raise SystemExit('shutdown_distributed() returned')
''')


@pytest.mark.ddp
@pytest.mark.slow
def test_gloo_run_ends_without_abort(tmp_path):
    script = tmp_path / 'end_of_run.py'
    script.write_text(SCRIPT)
    for attempt in range(5):
        result = subprocess.run(
            [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
             f'--master_port={free_port()}', str(script), RUNNER_SETUP], cwd=ROOT, env=ENV,
            capture_output=True, text=True, timeout=300)
        log = result.stdout + result.stderr
        assert result.returncode == 0, f'attempt {attempt}:\n{log[-3000:]}'
        assert 'rank 0 done' in log and 'rank 1 done' in log
        assert 'terminate called' not in log and 'returned' not in log
