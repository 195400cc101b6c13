"""The toolchain decision `make setup` makes (textloop_ops/toolchain.py), with the network and
PATH faked; scripts/toolchain.sh runs it for real (the offline way, on this project's machines).
"""

import json
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.error
from pathlib import Path

import pytest
from packaging.version import Version

from textloop_ops import toolchain
from textloop_ops.toolchain import Found, Plan, Probe

REPO = Path(__file__).resolve().parents[2]

# The registry's answers, in the shapes its protocol documents: the service discovery document
# (https://developer.hashicorp.com/terraform/internals/remote-service-discovery; the registry
# lists "providers.v1": "/v1/providers/") and "List Available Versions", sample response at
# https://developer.hashicorp.com/terraform/internals/provider-registry-protocol#list-available-versions
DISCOVERY = {"modules.v1": "/v1/modules/", "providers.v1": "/v1/providers/"}
VERSIONS = {
    "versions": [
        {
            "version": "2.0.0",
            "protocols": ["4.0", "5.1"],
            "platforms": [{"os": "darwin", "arch": "amd64"}, {"os": "linux", "arch": "amd64"}],
        },
        {
            "version": "2.0.1",
            "protocols": ["5.2"],
            "platforms": [{"os": "linux", "arch": "amd64"}],
        },
    ]
}
# `terraform version -json` of Terraform 1.11.4 (what `terraform version -json` prints).
VERSION_JSON = (
    '{"terraform_version": "%s", "platform": "linux_amd64", "provider_selections": {},'
    ' "terraform_outdated": false}'
)


class Registry:
    """Answers like registry.terraform.io, recording what was asked."""

    def __init__(self, answers: dict[str, bytes]):
        self.answers = answers
        self.asked: list[tuple[str, float]] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.asked.append((url, timeout))
        if url not in self.answers:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]
        return self.answers[url]


def answering_registry() -> Registry:
    return Registry(
        {
            "https://registry.terraform.io/.well-known/terraform.json": json.dumps(
                DISCOVERY
            ).encode(),
            "https://registry.terraform.io/v1/providers/hashicorp/aws/versions": json.dumps(
                VERSIONS
            ).encode(),
        }
    )


def unreachable(url: str, timeout: float) -> bytes:
    # What urlopen raises where DNS has no answer for the registry (as on this project's CI).
    raise urllib.error.URLError(OSError(-2, "Name or service not known"))


def decide(probe: Probe, on_path: Found | None, pinned_cached: bool = False) -> Plan:
    return toolchain.decide(
        probe=probe,
        on_path=on_path,
        pinned_version="1.5.7",
        pinned_binary=Path("/cache/terraform-1.5.7/terraform"),
        pinned_cached=pinned_cached,
    )


# --------------------------------------------------------------------------- the probe


def test_probe_follows_service_discovery_to_the_providers_versions():
    registry = answering_registry()
    probe = toolchain.probe_registry(registry, timeout=2.0)
    assert probe == Probe(True, "2 hashicorp/aws versions listed")
    assert [url for url, _ in registry.asked] == [
        "https://registry.terraform.io/.well-known/terraform.json",
        "https://registry.terraform.io/v1/providers/hashicorp/aws/versions",
    ]
    assert all(timeout == 2.0 for _, timeout in registry.asked)


def test_probe_resolves_an_absolute_providers_base_from_discovery():
    registry = answering_registry()
    registry.answers["https://registry.terraform.io/.well-known/terraform.json"] = json.dumps(
        {"providers.v1": "https://mirror.example.com/providers/v1/"}
    ).encode()
    registry.answers["https://mirror.example.com/providers/v1/hashicorp/aws/versions"] = json.dumps(
        VERSIONS
    ).encode()
    assert toolchain.probe_registry(registry, timeout=2.0).reachable


def test_probe_without_a_network_is_unreachable_and_says_why():
    probe = toolchain.probe_registry(unreachable, timeout=2.0)
    assert probe == Probe(False, "[Errno -2] Name or service not known")


@pytest.mark.parametrize(
    "answers",
    [
        # Discovery answers, the provider does not (404).
        {"https://registry.terraform.io/.well-known/terraform.json": json.dumps(DISCOVERY)},
        # A captive portal's HTML instead of JSON.
        {"https://registry.terraform.io/.well-known/terraform.json": "<html>sign in</html>"},
        # Discovery without the providers service.
        {"https://registry.terraform.io/.well-known/terraform.json": '{"modules.v1": "/m/"}'},
        # The versions endpoint answers with no versions.
        {
            "https://registry.terraform.io/.well-known/terraform.json": json.dumps(DISCOVERY),
            "https://registry.terraform.io/v1/providers/hashicorp/aws/versions": '{"versions": []}',
        },
    ],
)
def test_probe_needs_both_answers_to_be_usable(answers):
    registry = Registry({url: body.encode() for url, body in answers.items()})
    assert not toolchain.probe_registry(registry, timeout=2.0).reachable


def test_probe_that_hangs_is_cut_off_at_the_timeout():
    released = threading.Event()

    def hangs(url: str, timeout: float) -> bytes:
        # A DNS lookup that never returns ignores urlopen's timeout; so does this.
        released.wait(30)
        return b"{}"

    start = time.monotonic()
    probe = toolchain.probe_registry(hangs, timeout=0.3)
    elapsed = time.monotonic() - start
    released.set()
    assert probe == Probe(False, "no answer within 0.3 s")
    assert elapsed < 2


def test_probe_timeout_raised_by_the_fetch_is_unreachable():
    def times_out(url: str, timeout: float) -> bytes:
        raise TimeoutError("The read operation timed out")

    assert toolchain.probe_registry(times_out, timeout=2.0) == Probe(
        False, "The read operation timed out"
    )


# --------------------------------------------------------------------------- terraform on PATH


@pytest.mark.parametrize(
    ("stdout", "version"),
    [
        (VERSION_JSON % "1.11.4", Version("1.11.4")),
        (VERSION_JSON % "1.10.0-alpha20240606", Version("1.10.0a20240606")),
        ("Terraform v0.12.31\n", None),  # before -json existed
        ("", None),  # the binary failed
        ('{"terraform_version": "not-a-version"}', None),
    ],
)
def test_version_of_terraform_on_path(stdout, version):
    found = toolchain.terraform_on_path(lambda _: "/usr/bin/terraform", lambda _: stdout)
    assert found == Found("/usr/bin/terraform", version)


def test_no_terraform_on_path():
    assert toolchain.terraform_on_path(lambda _: None, lambda _: pytest.fail("ran")) is None


def test_our_own_link_on_path_is_not_a_terraform_on_path(tmp_path):
    (tmp_path / "bin").mkdir()
    found = toolchain.terraform_on_path(
        lambda _: str(tmp_path / "bin" / "terraform"),
        lambda _: VERSION_JSON % "1.5.7",
        exclude_dir=tmp_path / "bin",
    )
    assert found is None


def test_a_terraform_after_our_own_bin_on_path_is_found(tmp_path, monkeypatch):
    ours, theirs = tmp_path / "cache" / "bin", tmp_path / "usr" / "bin"
    fake_terraform(ours / "terraform", "1.5.7")
    fake_terraform(theirs / "terraform", "1.9.8")
    monkeypatch.setenv("PATH", os.pathsep.join([str(ours), str(theirs)]))
    found = toolchain.terraform_on_path(
        lambda name: toolchain.shutil.which(name, path=toolchain.path_without(ours)),
        toolchain.run_version,
        ours,
    )
    assert found == Found(str(theirs / "terraform"), Version("1.9.8"))


# --------------------------------------------------------------------------- the decision


def test_registry_answers_terraform_on_path_is_used_and_nothing_is_built():
    plan = decide(Probe(True, "ok"), Found("/usr/local/bin/terraform", Version("1.9.8")))
    assert plan == Plan("path", "/usr/local/bin/terraform", "1.9.8", "registry", "")
    assert toolchain.summary(plan, "6.47.1", built=set()) == (
        "toolchain: terraform 1.9.8 from PATH (/usr/local/bin/terraform), "
        "providers from registry.terraform.io"
    )


def test_exactly_the_minimum_version_on_path_is_enough():
    plan = decide(Probe(True, "ok"), Found("/opt/terraform", Version("1.5.7")))
    assert (plan.terraform, plan.providers) == ("path", "registry")


def test_registry_down_builds_the_pinned_toolchain_from_the_go_proxy():
    # A new enough terraform on PATH does not change it: the provider must come from the mirror,
    # and the pinned Terraform is the one the offline way has always proved the modules on.
    probe = toolchain.probe_registry(unreachable, timeout=1.0)
    plan = decide(probe, Found("/usr/local/bin/terraform", Version("1.11.4")))
    assert plan == Plan(
        "pinned-build",
        "/cache/terraform-1.5.7/terraform",
        "1.5.7",
        "mirror",
        "registry.terraform.io unreachable ([Errno -2] Name or service not known)",
    )
    assert toolchain.summary(plan, "6.47.1", built={"terraform", "provider"}) == (
        "toolchain: registry.terraform.io unreachable ([Errno -2] Name or service not known); "
        "terraform 1.5.7 and hashicorp/aws 6.47.1 built from the Go module proxy (built now)"
    )


def test_registry_down_with_the_pinned_toolchain_cached():
    plan = decide(Probe(False, "no answer within 5 s"), None, pinned_cached=True)
    assert (plan.terraform, plan.providers) == ("pinned-cached", "mirror")
    assert toolchain.summary(plan, "6.47.1", built=set()) == (
        "toolchain: registry.terraform.io unreachable (no answer within 5 s); terraform 1.5.7 "
        "and hashicorp/aws 6.47.1 built from the Go module proxy (cached)"
    )
    assert toolchain.summary(plan, "6.47.1", built={"provider"}).endswith(
        "(terraform cached, provider built now)"
    )


def test_registry_answers_but_terraform_on_path_is_too_old_uses_the_pinned_one():
    plan = decide(Probe(True, "ok"), Found("/usr/bin/terraform", Version("1.5.6")), True)
    assert plan == Plan(
        "pinned-cached",
        "/cache/terraform-1.5.7/terraform",
        "1.5.7",
        "registry",
        "/usr/bin/terraform is 1.5.6, older than 1.5.7",
    )
    assert toolchain.summary(plan, "6.47.1", built=set()) == (
        "toolchain: terraform 1.5.7 pinned, from the Go module proxy (cached; /usr/bin/terraform"
        " is 1.5.6, older than 1.5.7), providers from registry.terraform.io"
    )


def test_registry_answers_and_no_terraform_anywhere_builds_only_terraform():
    plan = decide(Probe(True, "ok"), None, pinned_cached=False)
    assert (plan.terraform, plan.providers, plan.why) == (
        "pinned-build",
        "registry",
        "no terraform on PATH",
    )


def test_terraform_on_path_that_hides_its_version_is_not_trusted():
    plan = decide(Probe(True, "ok"), Found("/usr/bin/terraform", None), True)
    assert (plan.terraform, plan.why) == (
        "pinned-cached",
        "/usr/bin/terraform does not report its version",
    )


def test_offline_forced_skips_the_registry():
    plan = toolchain.decide(
        probe=Probe(True, "ok"),
        on_path=Found("/usr/local/bin/terraform", Version("1.9.8")),
        pinned_version="1.5.7",
        pinned_binary=Path("/c/terraform-1.5.7/terraform"),
        pinned_cached=True,
        force="offline",
    )
    assert (plan.terraform, plan.providers, plan.why) == (
        "pinned-cached",
        "mirror",
        "TEXTLOOP_TOOLCHAIN=offline",
    )


# --------------------------------------------------------------------------- what is written


def test_install_the_registry_way_links_path_terraform_and_caches_providers(tmp_path):
    plan = Plan("path", "/usr/local/bin/terraform", "1.9.8", "registry", "")
    toolchain.install(plan, tmp_path)
    link = tmp_path / "bin" / "terraform"
    assert link.is_symlink() and os.readlink(link) == "/usr/local/bin/terraform"
    rc = (tmp_path / "terraformrc").read_text()
    assert f'plugin_cache_dir = "{tmp_path / "plugin-cache"}"' in rc
    assert "plugin_cache_may_break_dependency_lock_file = true" in rc
    assert "filesystem_mirror" not in rc
    assert (tmp_path / "plugin-cache").is_dir()  # Terraform does not create it


def test_install_the_offline_way_writes_the_mirror_and_replaces_an_earlier_choice(tmp_path):
    toolchain.install(Plan("path", "/usr/local/bin/terraform", "1.9.8", "registry", ""), tmp_path)
    pinned = str(tmp_path / "terraform-1.5.7" / "terraform")
    toolchain.install(Plan("pinned-cached", pinned, "1.5.7", "mirror", "down"), tmp_path)
    assert os.readlink(tmp_path / "bin" / "terraform") == pinned
    rc = (tmp_path / "terraformrc").read_text()
    assert f'path    = "{tmp_path / "providers"}"' in rc
    assert 'exclude = ["registry.terraform.io/hashicorp/*"]' in rc
    assert "plugin_cache_dir" not in rc
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "plugin-cache", "terraformrc"]


def test_the_old_layouts_built_binary_is_kept_not_built_again(tmp_path):
    (tmp_path / "bin").mkdir()
    old = tmp_path / "bin" / "terraform"
    old.write_text("binary")
    toolchain.adopt_old_layout(tmp_path, "1.5.7", run=lambda _: VERSION_JSON % "1.5.7")
    pinned = tmp_path / "terraform-1.5.7" / "terraform"
    assert pinned.read_text() == "binary"
    assert os.stat(pinned).st_ino == os.stat(old).st_ino


def test_an_old_layout_binary_of_another_version_is_not_adopted(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "terraform").write_text("binary")
    toolchain.adopt_old_layout(tmp_path, "1.5.7", run=lambda _: VERSION_JSON % "1.5.6")
    assert not (tmp_path / "terraform-1.5.7").exists()


def test_plan_prints_assignments_the_shell_can_eval(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(toolchain, "probe_registry", lambda: Probe(True, "ok"))
    monkeypatch.setattr(toolchain.shutil, "which", lambda _, path=None: "/opt/tf's dir/terraform")
    monkeypatch.setattr(toolchain, "run_version", lambda _: VERSION_JSON % "1.9.8")
    monkeypatch.delenv("TEXTLOOP_TOOLCHAIN", raising=False)
    assert toolchain.main(["--cache", str(tmp_path), "--pinned-terraform", "1.5.7", "plan"]) == 0
    script = (
        capsys.readouterr().out
        + '\nprintf "%s|%s|%s" "$TERRAFORM_SOURCE" "$TERRAFORM_BINARY" "$PROVIDERS"'
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout == "path|/opt/tf's dir/terraform|registry"


def test_plan_rejects_an_unknown_toolchain_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTLOOP_TOOLCHAIN", "online")
    with pytest.raises(SystemExit):
        toolchain.main(["--cache", str(tmp_path), "--pinned-terraform", "1.5.7", "plan"])


# --------------------------------------------------------------------------- the script


def fake_terraform(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{VERSION_JSON % version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_script_offline_with_everything_cached_builds_nothing_and_says_one_line(tmp_path):
    """scripts/toolchain.sh end to end, the offline way, with a cache already holding the pinned
    Terraform (in the layout before this decision existed) and the provider: no go, no network."""
    cache = tmp_path / "cache"
    fake_terraform(cache / "bin" / "terraform", "1.5.7")
    provider = (
        cache
        / "providers/registry.terraform.io/hashicorp/aws/6.47.1/linux_amd64"
        / "terraform-provider-aws_v6.47.1_x5"
    )
    fake_terraform(provider, "0")
    env = dict(
        os.environ,
        TEXTLOOP_CACHE=str(cache),
        TEXTLOOP_TOOLCHAIN="offline",
        TEXTLOOP_SETUP_PYTHON=sys.executable,
        PATH="/usr/bin:/bin",  # no go: building anything would fail
    )
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "toolchain.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "toolchain: TEXTLOOP_TOOLCHAIN=offline; terraform 1.5.7 and hashicorp/aws 6.47.1 built"
        " from the Go module proxy (cached)"
    ]
    link = cache / "bin" / "terraform"
    assert os.readlink(link) == str(cache / "terraform-1.5.7" / "terraform")
    assert "1.5.7" in subprocess.run([str(link)], capture_output=True, text=True).stdout
    assert "filesystem_mirror" in (cache / "terraformrc").read_text()
