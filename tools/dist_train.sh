#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [tools/train.py args]  (see tools/torchrun.sh)
exec "$(dirname "$0")/torchrun.sh" train.py "$2" "$1" "${@:3}"
