"""Runs the offline Terraform toolchain that scripts/toolchain.sh builds into the cache."""

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    return Path(os.environ.get("TEXTLOOP_CACHE", Path.home() / ".cache" / "textloop"))


class ToolchainMissing(RuntimeError):
    pass


@dataclass
class Terraform:
    """One root module with its own data dir and state file, so runs never share state."""

    root: Path
    state_path: Path
    data_dir: Path | None = None
    binary: Path = field(default_factory=lambda: cache_dir() / "bin" / "terraform")

    def _env(self) -> dict[str, str]:
        config = cache_dir() / "terraformrc"
        if not self.binary.exists() or not config.exists():
            raise ToolchainMissing(
                f"Terraform toolchain not found ({self.binary}, {config}); run `make setup`"
            )
        env = dict(os.environ, TF_CLI_CONFIG_FILE=str(config), CHECKPOINT_DISABLE="1")
        env["TF_IN_AUTOMATION"] = "1"
        if self.data_dir:
            env["TF_DATA_DIR"] = str(self.data_dir)
        return env

    def run(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(  # noqa: S603 - our own toolchain binary, arguments we build
            [str(self.binary), f"-chdir={self.root}", *args],
            env=self._env(),
            capture_output=capture,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or "")[-4000:] if capture else "see the output above"
            raise RuntimeError(f"terraform {args[0]} failed in {self.root}: {detail}")
        return result.stdout if capture else ""

    def init(self) -> None:
        self.run(
            "init",
            "-input=false",
            "-reconfigure",
            f"-backend-config=path={self.state_path}",
            capture=True,
        )

    @staticmethod
    def _var_args(variables: dict[str, str]) -> list[str]:
        return [arg for k, v in variables.items() for arg in ("-var", f"{k}={v}")]

    def apply(self, variables: dict[str, str], capture: bool = False) -> str:
        return self.run(
            "apply", "-auto-approve", "-input=false", *self._var_args(variables), capture=capture
        )

    def destroy(self, variables: dict[str, str], capture: bool = False) -> str:
        return self.run(
            "destroy", "-auto-approve", "-input=false", *self._var_args(variables), capture=capture
        )

    def outputs(self) -> dict:
        raw = json.loads(self.run("output", "-json", capture=True))
        return {name: item["value"] for name, item in raw.items()}


def local_stack(state_dir: Path, data_dir: Path | None = None) -> Terraform:
    """The terraform/envs/local root, with its state kept beside the LocalStack it deployed to:
    when that LocalStack is gone, so is the state that described it."""
    return Terraform(
        root=REPO / "terraform" / "envs" / "local",
        state_path=state_dir.resolve() / "terraform.tfstate",
        data_dir=data_dir,
    )
