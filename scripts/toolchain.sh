#!/usr/bin/env bash
# The Terraform toolchain, in a cache outside the repository. The ordinary way first: a terraform
# >= 1.5.7 already on PATH (else the pinned one) with providers from the Terraform registry. Only
# where registry.terraform.io does not answer are Terraform and the AWS provider built from the Go
# module proxy, the provider into a local filesystem mirror that `init` reads instead. The decision
# is textloop_ops/toolchain.py's (tested in tests/unit/test_toolchain.py); this script builds what
# it asks for. Either way $CACHE/bin/terraform and $CACHE/terraformrc are what everything runs.
# TEXTLOOP_TOOLCHAIN=offline skips the registry probe. Re-running is a no-op once cached.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${TEXTLOOP_CACHE:-$HOME/.cache/textloop}"
# The project venv (setup.sh builds it first); tests point TEXTLOOP_SETUP_PYTHON at their own.
PY="${TEXTLOOP_SETUP_PYTHON:-.venv/bin/python}"
# Terraform 1.5.7 is the last MPL-2.0 release and the oldest version the HCL supports, so
# building it here also proves the modules work on the minimum version users may run.
TERRAFORM_VERSION="1.5.7"
# The proxy does not serve the provider's v6 tags (its go.mod has no /v6 suffix), only this
# pseudo-version of the main branch, commit 5f2286d6 (version/VERSION there: 6.47.1, after the
# 6.47.0 release); the binary is stamped and mirrored under that version.
AWS_PROVIDER_MODULE_VERSION="v1.60.1-0.20260602190131-5f2286d6d836"
AWS_PROVIDER_VERSION="6.47.1"

MIRROR="$CACHE/providers"
PROVIDER_DIR="$MIRROR/registry.terraform.io/hashicorp/aws/$AWS_PROVIDER_VERSION/linux_amd64"
PROVIDER_BIN="$PROVIDER_DIR/terraform-provider-aws_v${AWS_PROVIDER_VERSION}_x5"
LOG_DIR="$CACHE/logs"
mkdir -p "$CACHE" "$LOG_DIR"

toolchain() { "$PY" -m textloop_ops.toolchain --cache "$CACHE" --pinned-terraform "$TERRAFORM_VERSION" "$@"; }

# Sets TERRAFORM_SOURCE, TERRAFORM_BINARY, TERRAFORM_CHOSEN_VERSION, PROVIDERS, TOOLCHAIN_WHY.
plan=$(toolchain plan)
eval "$plan"

need() { command -v "$1" >/dev/null 2>&1 || {
  echo "toolchain: '$1' is required to build $2 (${TOOLCHAIN_WHY:-no terraform >= 1.5.7 found})" >&2; exit 1; }; }

# Measured: peak RSS and wall time of each cold build go to $LOG_DIR for the README and notes.
timed() {
  local name=$1; shift
  local start=$SECONDS
  /usr/bin/time -v -o "$LOG_DIR/$name.time" "$@" >"$LOG_DIR/$name.log" 2>&1 || {
    echo "toolchain: building $name failed, see $LOG_DIR/$name.log" >&2; tail -20 "$LOG_DIR/$name.log" >&2; exit 1; }
  echo "toolchain: built $name in $((SECONDS - start)) s (peak RSS $(awk -F': ' '/Maximum resident/ {printf "%d MiB", $2/1024}' "$LOG_DIR/$name.time"))"
}

built=()
if [ "$TERRAFORM_SOURCE" = pinned-build ]; then
  need go "Terraform $TERRAFORM_VERSION"
  echo "toolchain: building Terraform $TERRAFORM_VERSION (a few minutes, once)"
  timed terraform env GOBIN="$(dirname "$TERRAFORM_BINARY")" CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" \
    "github.com/hashicorp/terraform@v$TERRAFORM_VERSION"
  built+=(--built terraform)
fi

if [ "$PROVIDERS" = mirror ] && [ ! -x "$PROVIDER_BIN" ]; then
  need go "hashicorp/aws $AWS_PROVIDER_VERSION"
  echo "toolchain: building hashicorp/aws $AWS_PROVIDER_VERSION (30-60 min and several GB, once)"
  mkdir -p "$PROVIDER_DIR"
  tmp_bin=$(mktemp -d)
  timed terraform-provider-aws env GOBIN="$tmp_bin" CGO_ENABLED=0 go install -trimpath \
    -ldflags="-s -w -X github.com/hashicorp/terraform-provider-aws/version.ProviderVersion=$AWS_PROVIDER_VERSION" \
    "github.com/hashicorp/terraform-provider-aws@$AWS_PROVIDER_MODULE_VERSION"
  mv "$tmp_bin/terraform-provider-aws" "$PROVIDER_BIN.partial"
  mv "$PROVIDER_BIN.partial" "$PROVIDER_BIN"
  rmdir "$tmp_bin"
  built+=(--built provider)
fi

# Links bin/terraform to the chosen binary, writes terraformrc, prints the one line.
toolchain install --terraform-source "$TERRAFORM_SOURCE" --terraform-binary "$TERRAFORM_BINARY" \
  --terraform-version "$TERRAFORM_CHOSEN_VERSION" --providers "$PROVIDERS" --why "$TOOLCHAIN_WHY" \
  --provider-version "$AWS_PROVIDER_VERSION" ${built[@]+"${built[@]}"}
