#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py args]  (see tools/torchrun.sh)
exec "$(dirname "$0")/torchrun.sh" test.py "$3" "$1" "$2" "${@:4}"
