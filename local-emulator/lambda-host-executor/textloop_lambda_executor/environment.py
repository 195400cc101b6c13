"""What a function version needs on the host before a process can run it.

* the Python interpreter its runtime names (``python3.X``),
* its layers merged into one directory that plays ``/opt`` (``/opt`` itself is not writable),
* a boto3 directory shaped like the one the AWS Python runtime ships.

All of this is prepared once per function version (``prepare_version``) so that starting an
environment is only a process spawn.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from importlib import metadata
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException

LOG = logging.getLogger(__name__)

_PYTHON_RUNTIME = re.compile(r"^python(3)\.(\d+)$")

# What the AWS Python runtime has importable besides the standard library. Copied (hard-linked)
# by distribution from LocalStack's venv, so their versions are the ones requirements pins, and
# nothing else from that venv (LocalStack's own dependencies) becomes importable by handlers.
SDK_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)

_interpreters: dict[str, str] = {}
_interpreter_lock = threading.Lock()
_sdk_lock = threading.Lock()
_sdk_dir: Path | None = None


class UnsupportedFunction(LambdaRuntimeException):
    pass


# --------------------------------------------------------------------------------------------
# interpreter


def python_version_for(runtime: str | None) -> str:
    match = _PYTHON_RUNTIME.match(runtime or "")
    if not match:
        raise UnsupportedFunction(
            f"The host Lambda executor runs python3.x zip functions only; runtime "
            f"{runtime or '(container image)'!r} is not supported. Run LocalStack with Docker "
            "(the default executor) for other runtimes."
        )
    return f"{match.group(1)}.{match.group(2)}"


def _pyenv_roots() -> list[Path]:
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    return [Path(r) for r in dict.fromkeys(r for r in roots if r)]


def _candidates(version: str) -> list[str]:
    exe = f"python{version}"
    found: list[str] = []
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        # pyenv shims pick a version from .python-version files and PYENV_VERSION, i.e. from
        # the task root and the LocalStack environment: use the real installations instead.
        if not entry or Path(entry).name == "shims":
            continue
        path = Path(entry) / exe
        if path.is_file() and os.access(path, os.X_OK):
            found.append(str(path))
    for root in _pyenv_roots():
        versions = sorted(
            (root / "versions").glob(f"{version}*"),
            key=lambda p: [int(x) if x.isdigit() else -1 for x in re.split(r"[.\-]", p.name)],
            reverse=True,
        )
        for install in versions:
            # 3.1 must not match 3.13: the directory name has to be 3.1, 3.1.x or 3.1-suffix.
            if not re.match(rf"^{re.escape(version)}($|[.\-])", install.name):
                continue
            path = install / "bin" / exe
            if path.is_file() and os.access(path, os.X_OK):
                found.append(str(path))
    return found


def _reports_version(python: str, version: str) -> bool:
    try:
        out = subprocess.run(  # noqa: S603 - an interpreter path we located ourselves
            [python, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def resolve_interpreter(runtime: str | None) -> str:
    """The python3.X executable for a Lambda runtime name, found once and cached.

    Override per version with ``TEXTLOOP_LAMBDA_PYTHON_3_13=/path/to/python3.13`` (etc.).
    """
    version = python_version_for(runtime)
    with _interpreter_lock:
        if version in _interpreters:
            return _interpreters[version]
        override_var = f"TEXTLOOP_LAMBDA_PYTHON_{version.replace('.', '_')}"
        override = os.environ.get(override_var)
        candidates = [override] if override else _candidates(version)
        for candidate in candidates:
            if _reports_version(candidate, version):
                _interpreters[version] = candidate
                return candidate
        if override:
            raise UnsupportedFunction(
                f"{override_var}={override} is not a working Python {version} interpreter."
            )
        raise UnsupportedFunction(
            f"No Python {version} interpreter found for runtime {runtime}: looked for "
            f"python{version} on PATH and under {', '.join(map(str, _pyenv_roots()))}/versions. "
            f"Install it (e.g. `pyenv install {version}`) or set {override_var}."
        )


# --------------------------------------------------------------------------------------------
# directories


def work_root() -> Path:
    return Path(config.dirs.tmp) / "lambda-host"


def version_dir(function_version: FunctionVersion) -> Path:
    fid = function_version.id
    raw = (
        f"{fid.account}-{fid.region}-{fid.function_name}-{fid.qualifier}-"
        f"{function_version.config.internal_revision}"
    )
    return work_root() / re.sub(r"[^A-Za-z0-9_.-]", "_", raw)


def opt_dir(function_version: FunctionVersion) -> Path:
    return version_dir(function_version) / "opt"


def _link_or_copy(src: str, dst: str) -> None:
    # Hard links make merging big layers (numpy, scikit-learn) nearly free; the layer cache
    # and the merged directory live on the same file system unless TMP points elsewhere.
    if os.path.lexists(dst):
        os.unlink(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _merge_tree(src: Path, dst: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = dst / rel if rel != "." else dst
        target.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            source = os.path.join(dirpath, name)
            if os.path.islink(source):
                dest = target / name
                if os.path.lexists(dest):
                    os.unlink(dest)
                os.symlink(os.readlink(source), dest)
            else:
                _link_or_copy(source, str(target / name))
        # Symlinked directories were not descended into; recreate them as links.
        for name in list(dirnames):
            source = os.path.join(dirpath, name)
            if os.path.islink(source):
                dirnames.remove(name)
                dest = target / name
                if not os.path.lexists(dest):
                    os.symlink(os.readlink(source), dest)


def prepare_layers(function_version: FunctionVersion) -> Path:
    """Merges the function's layers, in order, into its own /opt stand-in.

    On AWS every layer is extracted over /opt in the function's layer order, so a later layer
    overrides files of an earlier one; merging into one directory keeps exactly that.
    """
    target = opt_dir(function_version)
    staging = Path(tempfile.mkdtemp(prefix="opt-", dir=target.parent))
    try:
        for layer in function_version.config.layers or []:
            code = getattr(layer, "code", None)
            if code is None:
                raise LambdaRuntimeException(
                    f"Layer {layer.layer_version_arn} has no code stored in LocalStack."
                )
            code.prepare_for_execution()
            _merge_tree(Path(code.get_unzipped_code_location()), staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def layer_import_paths(opt: Path, python_version: str) -> list[str]:
    """The two layer directories the AWS Python runtime puts on sys.path, in its order."""
    return [
        str(opt / "python" / "lib" / f"python{python_version}" / "site-packages"),
        str(opt / "python"),
    ]


# --------------------------------------------------------------------------------------------
# boto3 as the AWS Python runtime ships it


def _sdk_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "textloop" / "lambda-sdk"


def _copy_distribution(dist: metadata.Distribution, dst: Path) -> int:
    copied = 0
    for file in dist.files or []:
        # RECORD also lists console scripts outside site-packages (../../bin/...): skip them.
        if ".." in file.parts:
            continue
        src = Path(file.locate())
        if not src.is_file():
            continue
        target = dst / file
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(src), str(target))
        copied += 1
    return copied


def sdk_dir() -> Path:
    """A directory holding only boto3 and its dependencies, built once per set of versions.

    ``TEXTLOOP_LAMBDA_SDK_DIR`` points at a ready-made directory instead.
    """
    global _sdk_dir
    override = os.environ.get("TEXTLOOP_LAMBDA_SDK_DIR")
    if override:
        return Path(override)
    with _sdk_lock:
        if _sdk_dir is not None:
            return _sdk_dir
        dists = [metadata.distribution(name) for name in SDK_DISTRIBUTIONS]
        key = hashlib.sha256(
            "|".join(f"{d.metadata['Name']}=={d.version}" for d in dists).encode()
        ).hexdigest()[:16]
        boto3_version = next(d.version for d in dists if d.metadata["Name"] == "boto3")
        for root in (_sdk_cache_root(), Path(config.dirs.cache) / "textloop-lambda-sdk"):
            target = root / f"boto3-{boto3_version}-{key}"
            if (target / ".complete").exists():
                _sdk_dir = target
                return target
            try:
                root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
            except OSError as exc:
                LOG.debug("Cannot build the Lambda SDK directory under %s: %s", root, exc)
                continue
            try:
                for dist in dists:
                    _copy_distribution(dist, staging)
                (staging / ".complete").write_text(
                    "\n".join(f"{d.metadata['Name']}=={d.version}" for d in dists) + "\n"
                )
                try:
                    staging.rename(target)
                except OSError:
                    # Another LocalStack built it concurrently; theirs is as good as ours.
                    shutil.rmtree(staging, ignore_errors=True)
                    if not (target / ".complete").exists():
                        raise
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            LOG.debug("Built the Lambda boto3 directory %s", target)
            _sdk_dir = target
            return target
        raise LambdaRuntimeException("Could not create a boto3 directory for Lambda functions.")


# --------------------------------------------------------------------------------------------


def prepare(function_version: FunctionVersion) -> None:
    fv_config = function_version.config
    if fv_config.package_type != PackageType.Zip or not fv_config.code:
        raise UnsupportedFunction(
            "The host Lambda executor runs zip functions only; container image functions need "
            "LocalStack's Docker executor."
        )
    resolve_interpreter(fv_config.runtime)
    fv_config.code.prepare_for_execution()
    version_dir(function_version).mkdir(parents=True, exist_ok=True)
    prepare_layers(function_version)
    (version_dir(function_version) / "envs").mkdir(exist_ok=True)
    sdk_dir()


def cleanup(function_version: FunctionVersion) -> None:
    shutil.rmtree(version_dir(function_version), ignore_errors=True)
