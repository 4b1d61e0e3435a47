#!/usr/bin/env bash
# Regenerates the sample grids shown in README.md: one `zoo sample` per pretrained model.
set -euo pipefail
cd "$(dirname "$0")/.."
zoo=.venv/bin/zoo
for name in $($zoo list --json | .venv/bin/python -c "
import json, sys
for e in json.load(sys.stdin):
    if e['task'] != 'classifier' and (e['weights'] or e['compose']) and not e['name'].startswith('testplugin'):
        print(e['name'])"); do
  $zoo sample "$name" -n 8 --seed 0 -o "docs/samples/$name.png"
done
