"""Install asl_mmdet: ``pip install -e .`` (see docs/get_started.md for the OpenMMLab versions)."""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    """Read a requirements file, skipping comments and ``-r`` includes."""
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith(('#', '-'))
        ]


def get_version() -> str:
    with open(osp.join(osp.dirname(__file__), 'asl_mmdet', 'version.py')) as f:
        scope = {}
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


setup(
    name='asl_mmdet',
    version=get_version(),
    description='Asymmetric Loss (Ridnik et al., ICCV 2021) for MMDetection '
    'and mmpretrain, with a fused Triton kernel',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs*', 'tools*', 'tests*', 'docs*')),
    # tested: Python 3.8.18 and 3.11.7 (docs/get_started.md, "Install into your own environment")
    python_requires='>=3.8',
    # no torch: OpenMMLab's convention, so that pip never replaces the torch mmcv was built for
    # (tested: torch 2.1.2 and 2.14.1); every entry is one MMDetection 3.3 installs already
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'mim': read_requirements('mminstall.txt'),
        'tests': read_requirements('tests.txt'),
    },
    classifiers=[
        'Programming Language :: Python :: 3.8',
        'Programming Language :: Python :: 3.11',
    ],
    license='Apache License 2.0',
    zip_safe=False,
)
