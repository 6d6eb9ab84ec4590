"""`make gpu-check`: the GPU runs this project could not do without a GPU, in one command.

On a machine with CUDA it runs, in order:

1. the kernel tests on CUDA at full sizes (``pytest tests/test_ops``: on CUDA the parity
   tables include 44800 x 80, 128 x 9605 and 358400 x 80, and the device-side assert test);
2. ``tools/benchmarks/loss.py`` (the fused kernel against the reference, the official formula,
   mmcv's focal op and the copy floor; issue 3's shapes);
3. ``tools/benchmarks/train.py`` for the runs ``docs/advanced_guides/benchmarks.md`` lists
   (ATSS, RetinaNet and FCOS focal vs ASL at batch 2 and 8, fp32 and ``--amp``; the ResNet-50
   multi-label classifier, BCE vs ASL at batch 64, fp32 and ``--amp``);

and writes what they print, with the device's name, the versions and the date, into the
"GPU check" section of ``docs/advanced_guides/benchmarks.md`` (replaced on each run). It stops at
the first failing step, after writing what it has.

    python tools/benchmarks/gpu_check.py [--skip-tests] [--skip-train]
                                         [--doc docs/advanced_guides/benchmarks.md]
"""
import argparse
import datetime
import os
import subprocess
import sys

import torch

__all__ = ['TRAIN_RUNS', 'main']

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo
BEGIN, END = '<!-- gpu-check: begin -->', '<!-- gpu-check: end -->'
TRAIN_RUNS = [
    [f'configs/{model}_r50_focal.py', f'configs/{model}_r50_asl.py', '--batch-size', '2', '8']
    + amp for model in ('atss', 'retinanet', 'fcos') for amp in ([], ['--amp'])
] + [['configs/resnet50_coco-ml_bce.py', 'configs/resnet50_coco-ml_asl.py', '--batch-size',
      '64'] + amp for amp in ([], ['--amp'])]


def run(args, sections):
    """Run ``python args`` in the repository, echo and keep its output; False if it failed."""
    command = [sys.executable] + args
    print('$', ' '.join(command), flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get('PYTHONPATH')) if p))
    env.pop('TRITON_INTERPRET', None)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    output = result.stdout + (result.stderr if result.returncode else '')
    print(output, flush=True)
    status = 'ok' if result.returncode == 0 else f'FAILED (exit {result.returncode})'
    sections.append(f'`python {" ".join(args)}`: {status}\n\n```\n{output.strip()}\n```\n')
    return result.returncode == 0


def write_doc(path, sections):
    import triton
    device = torch.cuda.get_device_name()
    header = (f'## GPU check (`make gpu-check`)\n\n{device}, '
              f'{datetime.date.today().isoformat()}, torch {torch.__version__}, triton '
              f'{triton.__version__}, CUDA {torch.version.cuda}.\n\n')
    block = f'{BEGIN}\n{header}' + '\n'.join(sections) + f'{END}\n'
    with open(path) as file:
        text = file.read()
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip('\n') + '\n\n' + block
    with open(path, 'w') as file:
        file.write(text)
    print(f'wrote {path}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--skip-tests', action='store_true')
    parser.add_argument('--skip-train', action='store_true')
    parser.add_argument('--doc', default=os.path.join(ROOT, 'docs', 'advanced_guides',
                                                        'benchmarks.md'))
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print('gpu-check needs a CUDA device; none is visible to torch', file=sys.stderr)
        return 2
    steps = [] if args.skip_tests else [['-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                                         'tests/test_ops']]
    steps.append(['tools/benchmarks/loss.py'])
    if not args.skip_train:
        steps += [['tools/benchmarks/train.py'] + run_args for run_args in TRAIN_RUNS]
    sections = []
    ok = all(run(step, sections) for step in steps)
    write_doc(args.doc, sections)
    return 0 if ok else 1
