"""transformers >= 5 beside mmpretrain 1.2: importing asl_mmdet first keeps mmdet.models and
mmpretrain.models importable, with a warning naming the cause and the fix.

A stand-in transformers 5 reproduces the failure of the real one (seen with 5.23.0): its
metadata says 5.0.0, it has the top-level names mmpretrain's hugging-face utilities import, and
it lacks the submodules that BLIP's code imports, so mmpretrain's bare ``except`` sets
``PreTrainedModel = None`` and ``class BertPreTrainedModel(None)`` raises a TypeError. It has
``configuration_utils.PretrainedConfig``, which torch 2.1's Dynamo patches when it is imported."""

import pytest

from asl_mmdet.utils.mmpretrain_compat import FIX
from tests.run_utils import python_env, run_python


@pytest.fixture(scope='module')
def fake_transformers5(tmp_path_factory):
    site = tmp_path_factory.mktemp('site')
    auto = site / 'transformers' / 'models' / 'auto'
    auto.mkdir(parents=True)
    (site / 'transformers' / '__init__.py').write_text('\n'.join([
        "__version__ = '5.0.0'",
        'from . import configuration_utils',
        'from .models.auto.auto_factory import _BaseAutoModelClass',
        'class AutoConfig:',
        '    from_pretrained = None',
        'def __getattr__(name):',  # AutoModelForCausalLM and the like
        '    return type(name, (_BaseAutoModelClass, ), {})',
    ]) + '\n')
    (site / 'transformers' / 'configuration_utils.py').write_text('class PretrainedConfig:\n'
                                                                   '    pass\n')
    (site / 'transformers' / 'models' / '__init__.py').write_text('')
    (auto / '__init__.py').write_text('')
    (auto / 'auto_factory.py').write_text('class _BaseAutoModelClass:\n    from_config = None\n')
    dist = site / 'transformers-5.0.0.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text('Metadata-Version: 2.1\nName: transformers\nVersion: 5.0.0\n')
    return str(site)


def run(code, site):
    return run_python('-c', code, env=python_env(site))


def test_without_the_workaround_mmdet_models_breaks(fake_transformers5):
    result = run('import mmdet.models', fake_transformers5)
    assert result.returncode != 0
    assert 'NoneType takes no arguments' in result.stderr


def test_asl_mmdet_first_keeps_everything_importable(fake_transformers5):
    code = '\n'.join([
        'import asl_mmdet, mmdet.models, mmpretrain.models',
        'from mmpretrain.registry import MODELS',
        "loss = MODELS.build(dict(type='ASLoss'))",
        'print(type(loss).__module__)',
        'try:',
        "    MODELS.build(dict(type='BlipCaption'))",
        'except ImportError:',
        "    print('placeholder raised ImportError')",
    ])
    result = run(code, fake_transformers5)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ['asl_mmdet.models.losses.asymmetric_loss', 'placeholder',
                                     'raised', 'ImportError']
    assert 'transformers 5.0.0 is installed' in result.stderr and FIX in result.stderr


def test_no_warning_without_transformers5():
    result = run_python(
        '-W', 'error::UserWarning', '-c',
        'import asl_mmdet.utils.mmpretrain_compat as c; print(c.disable_broken_multimodal())')
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'False'
