"""The training and test tools answer bad paths with a usage error, not a traceback."""
import os.path as osp
import subprocess
import sys

import pytest

from tests.run_utils import ENV, ROOT

CONFIG = osp.join(ROOT, 'configs', 'atss_r50_asl.py')


@pytest.mark.parametrize('args,message', [
    (['tools/train.py', 'configs/no_such_config.py'],
     "config 'configs/no_such_config.py': no such file"),
    (['tools/train.py', CONFIG, '--resume', 'no_such.pth'], "--resume 'no_such.pth': no such file"),
    (['tools/test.py', CONFIG, 'no_such.pth'], "checkpoint 'no_such.pth': no such file"),
    (['tools/test.py', CONFIG, CONFIG, '--out', 'preds.json'],
     "--out must be a .pkl or .pickle file, got 'preds.json'"),
])
def test_bad_paths_are_usage_errors(args, message):
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2
    assert message in result.stderr and 'usage:' in result.stderr
    assert 'Traceback' not in result.stderr
