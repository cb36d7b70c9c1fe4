#!/usr/bin/env bash
# The Python comparison bench: sark_policy against Go OPA in process,
# Redis on loopback and cachetools' TTLCache. Installs what it needs into
# the repository's .venv; SARK_BENCH_QUICK=1 runs a few iterations only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv="$repo/.venv"
py="$venv/bin/python"
opa_version=0.4.4

test -x "$py" || python3 -m venv "$venv"
stamp="$venv/.bench-python-installed"
if [[ ! -f "$stamp" || "$here/requirements.txt" -nt "$stamp" ]]; then
  "$py" -m pip install -q -r "$here/requirements.txt"
  touch "$stamp"
fi
# The package under test, with the component `make component` built.
"$py" -m pip install -q --no-deps --force-reinstall "$repo/python-host"

opa_site="$venv/opa-golib-$opa_version"
if [[ ! -d "$opa_site/opa_bindings" ]]; then
  tmp=$(mktemp -d)
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
    "opa-golib-python-bindings==$opa_version" -d "$tmp"
  "$py" -m zipfile -e "$tmp"/opa_golib_python_bindings-*.whl "$opa_site"
  rm -rf "$tmp"
fi

if ! command -v redis-server >/dev/null; then
  sudo_=""
  [[ $(id -u) -eq 0 ]] || sudo_=sudo
  $sudo_ apt-get install -y -q redis-server >/dev/null || {
    $sudo_ apt-get update -q >/dev/null && $sudo_ apt-get install -y -q redis-server >/dev/null
  }
fi

exec env OPA_SITE="$opa_site" "$py" "$here/bench.py" "$@"
