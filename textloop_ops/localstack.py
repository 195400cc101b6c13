"""Python access to scripts/localstack.py (kept stdlib-only so plain python3 can run it)."""

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "localstack.py"


def _load():
    name = "_textloop_localstack_ctl"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def start(state_dir: Path, **kwargs) -> dict:
    return _load().start(state_dir, **kwargs)


def stop(state_dir: Path) -> None:
    _load().stop(state_dir)


def endpoint(state_dir: Path) -> str:
    path = Path(state_dir) / "endpoint"
    if not path.exists():
        raise RuntimeError(f"no LocalStack running from {state_dir}; run `make localstack-up`")
    return path.read_text().strip()
