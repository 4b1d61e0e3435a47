#!/usr/bin/env bash
# Install zoo into ./.venv on a bare machine: PyTorch (CPU build 2.13.0) first, then zoo-core,
# every first-party plugin and the tests' plugin, and, as root, Debian's Fashion-MNIST files.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  fi
else
  echo "install.sh: not root; Fashion-MNIST needs 'apt-get install dataset-fashion-mnist' or ZOO_DATA_DIR" >&2
fi

python3 -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first: with nothing installed, a plain 'torch' requirement would pull a multi-GB CUDA build
"${pip[@]}" torch==2.13.0
packages=(-e ".[test]" -e tests/plugin)
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && packages+=(-e "$plugin")
done
"${pip[@]}" setuptools "${packages[@]}"
echo "installed: $(.venv/bin/zoo --version); plugins: $(.venv/bin/zoo plugins | cut -d' ' -f1 | tr '\n' ' ')"
