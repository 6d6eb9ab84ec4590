"""The main job on the embedded data: ATSS with focal loss vs ASL, side by side.

Generates the synthetic COCO-format dataset into data/asl_demo (first run only), trains
configs/atss_r50_focal.py, configs/atss_r50_asl_as_focal.py and configs/atss_r50_asl.py on it
with tools/train.py (small input scale, short schedule: asl_mmdet.datasets.demo), evaluates each
with the COCO metric and prints the tools/compare.py table and the path of its PNG.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys

from asl_mmdet.datasets.demo import demo_config
from asl_mmdet.datasets.synthetic_coco import ensure_demo_data

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RUNS = ['atss_r50_focal', 'atss_r50_asl_as_focal', 'atss_r50_asl']


def main() -> None:
    parser = argparse.ArgumentParser(description='Focal loss vs ASL on the embedded data')
    parser.add_argument('--iters', type=int, default=90, help='training iterations per run')
    parser.add_argument('--image-size', type=int, default=128, help='input scale')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/asl_demo')
    args = parser.parse_args()

    ensure_demo_data(args.data_root)
    work_dirs = []
    for name in RUNS:
        work_dir = osp.join(args.work_dir, name)
        cfg = demo_config(osp.join(ROOT, 'configs', f'{name}.py'), args.data_root, work_dir,
                          args.iters, image_size=args.image_size,
                          val_interval=max(1, args.iters // 3))
        os.makedirs(work_dir, exist_ok=True)
        cfg_path = osp.join(work_dir, f'{name}_demo.py')
        cfg.dump(cfg_path)
        print(f'== training {name} ({args.iters} iterations) -> {work_dir}', flush=True)
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), cfg_path,
                        '--work-dir', work_dir], check=True)
        work_dirs.append(work_dir)
    out = osp.join(args.work_dir, 'compare.png')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'compare.py'), *work_dirs,
                    '--out', out], check=True)


if __name__ == '__main__':
    main()
