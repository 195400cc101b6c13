"""Which Terraform toolchain `make setup` uses, decided once per run by scripts/toolchain.sh.

The ordinary way: a `terraform` >= 1.5.7 already on PATH (else the pinned one) with providers
from the Terraform registry. Only where the registry cannot be reached are Terraform and the
AWS provider built from the Go module proxy into a local filesystem mirror. Either way the rest
of the project runs `$TEXTLOOP_CACHE/bin/terraform` (a symlink to the chosen binary) with
`TF_CLI_CONFIG_FILE=$TEXTLOOP_CACHE/terraformrc`, so nothing downstream knows which way it went.

    eval "$(python -m textloop_ops.toolchain plan ...)"     # shell assignments: what to build
    python -m textloop_ops.toolchain install ...            # link, terraformrc, the one line
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from packaging.version import InvalidVersion, Version

REGISTRY = "registry.terraform.io"
DISCOVERY_URL = f"https://{REGISTRY}/.well-known/terraform.json"
PROVIDER = "hashicorp/aws"
MINIMUM_TERRAFORM = Version("1.5.7")
# Whole-probe bound: urlopen's timeout does not cover a DNS lookup that hangs.
PROBE_TIMEOUT_S = 5.0

Fetch = Callable[[str, float], bytes]
Which = Callable[[str], str | None]
RunVersion = Callable[[str], str]


def fetch_url(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "textloop-setup"})  # noqa: S310 - https URLs we build
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.read()


@dataclass(frozen=True)
class Probe:
    reachable: bool
    detail: str


def _probe_once(fetch: Fetch, timeout: float) -> Probe:
    try:
        discovery = json.loads(fetch(DISCOVERY_URL, timeout))
        providers_path = discovery["providers.v1"]
        versions_url = urljoin(DISCOVERY_URL, providers_path).rstrip("/") + f"/{PROVIDER}/versions"
        versions = json.loads(fetch(versions_url, timeout))["versions"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        # URLError wraps the socket error; its reason is the part a person can act on.
        return Probe(
            False, str(getattr(error, "reason", None) or error or type(error).__name__)[:200]
        )
    if not isinstance(versions, list) or not versions:
        return Probe(False, f"no {PROVIDER} versions listed")
    return Probe(True, f"{len(versions)} {PROVIDER} versions listed")


def probe_registry(fetch: Fetch = fetch_url, timeout: float = PROBE_TIMEOUT_S) -> Probe:
    """Service discovery, then the provider's versions endpoint, both within `timeout` seconds
    in all (the probe runs in a daemon thread so a hung lookup cannot hold `make setup`)."""
    result: list[Probe] = []
    worker = threading.Thread(
        target=lambda: result.append(_probe_once(fetch, timeout)), daemon=True
    )
    worker.start()
    worker.join(timeout)
    if not result:
        return Probe(False, f"no answer within {timeout:g} s")
    return result[0]


def parse_version_json(text: str) -> Version | None:
    """The version in `terraform version -json` (Terraform >= 0.13 prints it), else None."""
    try:
        return Version(json.loads(text)["terraform_version"])
    except (ValueError, KeyError, TypeError, InvalidVersion):
        return None


def run_version(binary: str) -> str:
    result = subprocess.run(  # noqa: S603 - a terraform binary found on PATH or in our cache
        [binary, "version", "-json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=dict(os.environ, CHECKPOINT_DISABLE="1"),
    )
    return result.stdout if result.returncode == 0 else ""


@dataclass(frozen=True)
class Found:
    path: str
    version: Version | None


def terraform_on_path(
    which: Which, run: RunVersion, exclude_dir: Path | None = None
) -> Found | None:
    path = which("terraform")
    if path is None:
        return None
    # Our own bin/terraform on PATH would only find last run's choice again.
    if exclude_dir is not None and Path(path).parent.resolve() == exclude_dir.resolve():
        return None
    return Found(path, parse_version_json(run(path)))


def path_without(directory: Path) -> str:
    """PATH without our own bin/, so a terraform after it on PATH is still found."""
    entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and Path(e).resolve() != directory.resolve())


@dataclass(frozen=True)
class Plan:
    terraform: str  # "path" | "pinned-cached" | "pinned-build"
    terraform_binary: str
    terraform_version: str
    providers: str  # "registry" | "mirror"
    why: str

    def shell(self) -> str:
        values = {
            "TERRAFORM_SOURCE": self.terraform,
            "TERRAFORM_BINARY": self.terraform_binary,
            "TERRAFORM_CHOSEN_VERSION": self.terraform_version,
            "PROVIDERS": self.providers,
            "TOOLCHAIN_WHY": self.why,
        }
        return "\n".join(f"{k}={shlex.quote(v)}" for k, v in values.items())


def decide(
    *,
    probe: Probe,
    on_path: Found | None,
    pinned_version: str,
    pinned_binary: Path,
    pinned_cached: bool,
    force: str = "auto",
) -> Plan:
    """The whole decision, from facts gathered elsewhere (so it is tested without a network)."""
    pinned_source = "pinned-cached" if pinned_cached else "pinned-build"
    pinned = (pinned_source, str(pinned_binary), pinned_version)
    if force == "offline" or (force == "auto" and not probe.reachable):
        why = (
            "TEXTLOOP_TOOLCHAIN=offline"
            if force == "offline"
            else f"{REGISTRY} unreachable ({probe.detail})"
        )
        # As before this decision existed: the pinned Terraform, which also proves the modules
        # on the oldest version they allow, and the provider from the local mirror.
        return Plan(*pinned, providers="mirror", why=why)
    if on_path is not None and on_path.version is not None and on_path.version >= MINIMUM_TERRAFORM:
        return Plan("path", on_path.path, str(on_path.version), "registry", "")
    if on_path is None:
        why = "no terraform on PATH"
    elif on_path.version is None:
        why = f"{on_path.path} does not report its version"
    else:
        why = f"{on_path.path} is {on_path.version}, older than {MINIMUM_TERRAFORM}"
    return Plan(*pinned, providers="registry", why=why)


def summary(plan: Plan, provider_version: str, built: set[str]) -> str:
    """The one line `make setup` prints about the toolchain."""

    def how(what: str) -> str:
        return "built now" if what in built else "cached"

    if plan.providers == "mirror":
        if how("terraform") == how("provider"):
            state = how("terraform")
        else:
            state = f"terraform {how('terraform')}, provider {how('provider')}"
        return (
            f"toolchain: {plan.why}; terraform {plan.terraform_version} and {PROVIDER} "
            f"{provider_version} built from the Go module proxy ({state})"
        )
    if plan.terraform == "path":
        source = f"terraform {plan.terraform_version} from PATH ({plan.terraform_binary})"
    else:
        source = (
            f"terraform {plan.terraform_version} pinned, from the Go module proxy "
            f"({how('terraform')}; {plan.why})"
        )
    return f"toolchain: {source}, providers from {REGISTRY}"


def terraformrc(plan: Plan, cache: Path) -> str:
    if plan.providers == "mirror":
        mirror = cache / "providers"
        return f"""# Written by scripts/toolchain.sh: providers from the local mirror, no registry.
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["{REGISTRY}/hashicorp/*"]
  }}
  direct {{
    exclude = ["{REGISTRY}/hashicorp/*"]
  }}
}}
"""
    # Lock files are not committed (see README "Toolchain"), so without the second setting
    # Terraform >= 1.4 would download the provider again for every working directory.
    return f"""# Written by scripts/toolchain.sh: providers come from {REGISTRY}, downloaded once.
plugin_cache_dir = "{cache / "plugin-cache"}"
plugin_cache_may_break_dependency_lock_file = true
"""


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    """Atomic, because other clones may be running bin/terraform from the same cache."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    write(tmp)
    os.replace(tmp, path)


def adopt_old_layout(cache: Path, pinned_version: str, run: RunVersion = run_version) -> None:
    """Before this module, bin/terraform was the built pinned binary itself: keep it (a hard
    link, so a terraform running from the old path is undisturbed) rather than build it again."""
    old = cache / "bin" / "terraform"
    pinned = pinned_binary(cache, pinned_version)
    if old.is_symlink() or not old.is_file() or pinned.exists():
        return
    if str(parse_version_json(run(str(old)))) == pinned_version:
        pinned.parent.mkdir(parents=True, exist_ok=True)
        os.link(old, pinned)


def pinned_binary(cache: Path, version: str) -> Path:
    return cache / f"terraform-{version}" / "terraform"


def install(plan: Plan, cache: Path) -> None:
    """bin/terraform -> the chosen binary, and the terraformrc that fits it."""
    (cache / "bin").mkdir(parents=True, exist_ok=True)
    if plan.providers == "registry":
        (cache / "plugin-cache").mkdir(exist_ok=True)
    _replace(cache / "bin" / "terraform", lambda tmp: tmp.symlink_to(plan.terraform_binary))
    _replace(cache / "terraformrc", lambda tmp: tmp.write_text(terraformrc(plan, cache)))


def _plan_from_args(args: argparse.Namespace) -> Plan:
    return Plan(
        args.terraform_source,
        args.terraform_binary,
        args.terraform_version,
        args.providers,
        args.why,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m textloop_ops.toolchain")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--pinned-terraform", required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("plan", help="print shell assignments: which terraform, which providers")
    done = sub.add_parser("install", help="link bin/terraform, write terraformrc, say which way")
    done.add_argument("--terraform-source", required=True)
    done.add_argument("--terraform-binary", required=True)
    done.add_argument("--terraform-version", required=True)
    done.add_argument("--providers", choices=("registry", "mirror"), required=True)
    done.add_argument("--why", default="")
    done.add_argument("--provider-version", required=True)
    done.add_argument("--built", action="append", default=[], choices=("terraform", "provider"))
    args = parser.parse_args(argv)

    if args.command == "plan":
        adopt_old_layout(args.cache, args.pinned_terraform)
        pinned = pinned_binary(args.cache, args.pinned_terraform)
        force = os.environ.get("TEXTLOOP_TOOLCHAIN") or "auto"
        if force not in ("auto", "offline"):
            parser.error(f"TEXTLOOP_TOOLCHAIN={force}: expected auto or offline")
        plan = decide(
            probe=probe_registry() if force == "auto" else Probe(False, "not asked"),
            on_path=terraform_on_path(
                lambda name: shutil.which(name, path=path_without(args.cache / "bin")),
                run_version,
                args.cache / "bin",
            ),
            pinned_version=args.pinned_terraform,
            pinned_binary=pinned,
            pinned_cached=pinned.is_file()
            and str(parse_version_json(run_version(str(pinned)))) == args.pinned_terraform,
            force=force,
        )
        print(plan.shell())
        return 0

    plan = _plan_from_args(args)
    install(plan, args.cache)
    print(summary(plan, args.provider_version, set(args.built)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
