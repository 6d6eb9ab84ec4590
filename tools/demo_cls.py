"""Multi-label classification on the embedded data: ASL vs binary cross-entropy, side by side.

Generates the synthetic dataset into data/asl_demo (first run only; the detection demo's images,
labelled with the classes of their annotated objects), trains configs/resnet50_coco-ml_bce.py
and configs/resnet50_coco-ml_asl.py on it with tools/train.py (small input scale, short
one-cycle schedule, ResNet-18 in place of ResNet-50 so that both runs take minutes on 2 CPU
cores: asl_mmdet.datasets.demo_cls), evaluates mAP and the F1 metrics and prints
the tools/compare.py table and the path of its PNG.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys

from asl_mmdet.datasets.demo_cls import cls_demo_config, ensure_demo_cls_data

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RUNS = ['resnet50_coco-ml_bce', 'resnet50_coco-ml_asl']


def main() -> None:
    parser = argparse.ArgumentParser(description='BCE vs ASL multi-label classification on '
                                     'the embedded data')
    parser.add_argument('--iters', type=int, default=100, help='training iterations per run')
    parser.add_argument('--image-size', type=int, default=128, help='input scale')
    parser.add_argument('--depth', type=int, default=18, help='ResNet depth (configs: 50)')
    parser.add_argument('--work-dir', default='work_dirs/demo_cls')
    parser.add_argument('--data-root', default='data/asl_demo')
    args = parser.parse_args()

    ensure_demo_cls_data(args.data_root)
    work_dirs = []
    for name in RUNS:
        work_dir = osp.join(args.work_dir, name)
        cfg = cls_demo_config(osp.join(ROOT, 'configs', f'{name}.py'), args.data_root,
                              work_dir, args.iters, image_size=args.image_size,
                              val_interval=max(1, args.iters // 4), depth=args.depth)
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
