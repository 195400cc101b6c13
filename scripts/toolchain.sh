#!/usr/bin/env bash
# Builds the Terraform toolchain from the Go module proxy, once, into a cache outside the
# repository: the Terraform registry is unreachable here, so `init` must find the provider in a
# local filesystem mirror. Re-running is a no-op when the binaries are already cached.
set -euo pipefail

CACHE="${TEXTLOOP_CACHE:-$HOME/.cache/textloop}"
# Terraform 1.5.7 is the last MPL-2.0 release and the oldest version the HCL supports, so
# building it here also proves the modules work on the minimum version users may run.
TERRAFORM_VERSION="1.5.7"
# The proxy does not serve the provider's v6 tags (its go.mod has no /v6 suffix), only this
# pseudo-version of the main branch, commit 5f2286d6 (version/VERSION there: 6.47.1, after the
# 6.47.0 release); the binary is stamped and mirrored under that version.
AWS_PROVIDER_MODULE_VERSION="v1.60.1-0.20260602190131-5f2286d6d836"
AWS_PROVIDER_VERSION="6.47.1"

BIN="$CACHE/bin"
MIRROR="$CACHE/providers"
PROVIDER_DIR="$MIRROR/registry.terraform.io/hashicorp/aws/$AWS_PROVIDER_VERSION/linux_amd64"
PROVIDER_BIN="$PROVIDER_DIR/terraform-provider-aws_v${AWS_PROVIDER_VERSION}_x5"
CLI_CONFIG="$CACHE/terraformrc"
LOG_DIR="$CACHE/logs"
mkdir -p "$BIN" "$PROVIDER_DIR" "$LOG_DIR"

need() { command -v "$1" >/dev/null 2>&1 || { echo "toolchain: '$1' is required but not installed" >&2; exit 1; }; }
need go

# Measured: peak RSS and wall time of each cold build go to $LOG_DIR for the README and notes.
timed() {
  local name=$1; shift
  local start=$SECONDS
  /usr/bin/time -v -o "$LOG_DIR/$name.time" "$@" >"$LOG_DIR/$name.log" 2>&1 || {
    echo "toolchain: building $name failed, see $LOG_DIR/$name.log" >&2; tail -20 "$LOG_DIR/$name.log" >&2; exit 1; }
  echo "toolchain: built $name in $((SECONDS - start)) s (peak RSS $(awk -F': ' '/Maximum resident/ {printf "%d MiB", $2/1024}' "$LOG_DIR/$name.time"))"
}

if [ ! -x "$BIN/terraform" ] || ! "$BIN/terraform" version 2>/dev/null | grep -q "v$TERRAFORM_VERSION"; then
  echo "toolchain: building Terraform $TERRAFORM_VERSION (a few minutes, once)"
  timed terraform env GOBIN="$BIN" CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" \
    "github.com/hashicorp/terraform@v$TERRAFORM_VERSION"
fi

if [ ! -x "$PROVIDER_BIN" ]; then
  echo "toolchain: building hashicorp/aws $AWS_PROVIDER_VERSION (30-60 min and several GB, once)"
  tmp_bin=$(mktemp -d)
  timed terraform-provider-aws env GOBIN="$tmp_bin" CGO_ENABLED=0 go install -trimpath \
    -ldflags="-s -w -X github.com/hashicorp/terraform-provider-aws/version.ProviderVersion=$AWS_PROVIDER_VERSION" \
    "github.com/hashicorp/terraform-provider-aws@$AWS_PROVIDER_MODULE_VERSION"
  mv "$tmp_bin/terraform-provider-aws" "$PROVIDER_BIN.partial"
  mv "$PROVIDER_BIN.partial" "$PROVIDER_BIN"
  rmdir "$tmp_bin"
fi

cat >"$CLI_CONFIG.tmp" <<CFG
# Written by scripts/toolchain.sh: providers come from the local mirror, never a registry.
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
CFG
mv "$CLI_CONFIG.tmp" "$CLI_CONFIG"
echo "toolchain: ready (terraform $TERRAFORM_VERSION, aws provider $AWS_PROVIDER_VERSION) in $CACHE"
