#!/usr/bin/env python3
"""Build a Lambda deployment package (a function or a layer) as a deterministic zip.

Terraform runs this from a ``terraform_data`` resource (``local-exec``) because only the
hashicorp/aws provider is available offline: no archive or external provider. It uses the
standard library only, so any Python 3.9+ with pip can run it.

What it does, in order:

1. If OUTPUT already exists, stop: Terraform names OUTPUT after a hash of every input, so an
   existing file is the result of the same inputs.
2. If a cache directory is given (``--cache-dir`` or ``$TEXTLOOP_BUILD_CACHE``) and holds a file
   of the same name, copy it: CI clones the repository fresh, the cache outlives the clone.
3. Otherwise pip-installs ``--requirements`` for the Lambda platform into ``<prefix>/``, copies
   each ``--source`` directory's contents into ``<prefix>/``, strips what Lambda never loads
   (``__pycache__``, ``tests``, ``bin``, dist-info RECORD/INSTALLER/REQUESTED/direct_url.json),
   and writes a zip whose bytes depend only on the file names and contents: sorted entries, a
   fixed timestamp, fixed permissions, fixed compression level.

The same ``--exclude-regex`` decides which source files are copied here and which files
Terraform hashes at plan time, so the plan-time hash and the zip contents cannot drift apart.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# Zip's epoch: the earliest timestamp the format can hold, so every build writes the same one.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXEC_MODE = 0o755
COMPRESS_LEVEL = 6

# Directories and files in pip-installed trees that Lambda never imports. `tests` packages of
# numpy/scipy/scikit-learn are tens of MB, and the unzipped layer counts against Lambda's
# 250 MB limit. `bin/` holds console scripts whose shebang names the build machine's Python.
PRUNE_DIRS = {"__pycache__", "tests", ".pytest_cache"}
PRUNE_TOP_LEVEL = {"bin"}
PRUNE_DIST_INFO_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
PRUNE_SUFFIXES = (".pyc", ".pyo")


def log(message: str) -> None:
    print(f"package.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="zip file to write")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        type=Path,
        help="directory whose contents go under --prefix (repeatable)",
    )
    parser.add_argument(
        "--prefix",
        default="",
        help='directory inside the zip ("python" for a layer, "" for a function)',
    )
    parser.add_argument("--requirements", type=Path, help="pip requirements (lock) file")
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        help="pip --platform tag (repeatable; default: the tags Lambda's Amazon Linux 2023 runs)",
    )
    parser.add_argument("--python-version", default="3.13", help="target Python version")
    parser.add_argument(
        "--resolve-dependencies",
        action="store_true",
        help="let pip resolve dependencies (default: --no-deps, the file is a complete lock)",
    )
    parser.add_argument(
        "--exclude-regex",
        default=r"(^|/)(__pycache__|\.pytest_cache|tests)(/|$)|\.py[co]$",
        help="source files whose relative path matches are left out",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=os.environ.get("TEXTLOOP_BUILD_CACHE") or None,
        help="directory of finished zips shared between clones (default $TEXTLOOP_BUILD_CACHE)",
    )
    parser.add_argument(
        "--pip-python",
        default=sys.executable,
        help="interpreter that runs `-m pip` (default: the one running this script)",
    )
    return parser.parse_args(argv)


def pip_install(args: argparse.Namespace, target: Path) -> None:
    # pip does not widen an explicit manylinux_2_X tag to older ones, and numpy >= 2.3 ships
    # manylinux_2_28 wheels only, so list every glibc level up to Amazon Linux 2023's 2.34.
    platforms = args.platform or [
        "manylinux_2_34_x86_64",
        "manylinux_2_28_x86_64",
        "manylinux2014_x86_64",
    ]
    command = [
        args.pip_python,
        "-m",
        "pip",
        "install",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        args.python_version,
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        # pip < 24 checks Requires-Python against the interpreter running pip instead of
        # --python-version; the wheel tags above already pin the target to cp313, and the lock
        # was resolved for it, so the check adds nothing and breaks older pips.
        "--ignore-requires-python",
    ]
    for platform in platforms:
        command += ["--platform", platform]
    if not args.resolve_dependencies:
        command.append("--no-deps")
    command += ["-r", str(args.requirements)]
    log("running " + " ".join(command))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PIP_ROOT_USER_ACTION="ignore")
    try:
        # An argument list, no shell: the arguments come from Terraform's own configuration.
        subprocess.run(command, check=True, env=env)  # noqa: S603
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"package.py: pip failed with exit code {error.returncode}") from None


def prune_installed(root: Path) -> None:
    for name in PRUNE_TOP_LEVEL:
        if (root / name).is_dir():
            shutil.rmtree(root / name)
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        current = Path(dirpath)
        for dirname in [d for d in dirnames if d in PRUNE_DIRS]:
            shutil.rmtree(current / dirname)
            dirnames.remove(dirname)
        for filename in filenames:
            is_dist_info_noise = (
                current.name.endswith(".dist-info") and filename in PRUNE_DIST_INFO_FILES
            )
            if is_dist_info_noise or filename.endswith(PRUNE_SUFFIXES):
                (current / filename).unlink()


def copy_sources(sources: list[Path], destination: Path, exclude: re.Pattern[str]) -> None:
    for source in sources:
        if not source.is_dir():
            raise SystemExit(f"package.py: source directory {source} does not exist")
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source).as_posix()
            if path.is_dir() or exclude.search(relative):
                continue
            target = destination / relative
            if target.exists():
                raise SystemExit(
                    f"package.py: {relative} from {source} would overwrite a file already "
                    "in the package (a source directory shadows an installed requirement?)"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            shutil.copymode(path, target)


def write_zip(root: Path, output: Path) -> int:
    files = sorted(
        (path.relative_to(root).as_posix(), path) for path in root.rglob("*") if path.is_file()
    )
    if not files:
        raise SystemExit("package.py: nothing to package")
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as zf:
        for arcname, path in files:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.create_system = 3  # Unix, so external_attr carries POSIX permissions
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = (stat.S_IFREG | (EXEC_MODE if executable else FILE_MODE)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as handle:
                zf.writestr(info, handle.read(), compresslevel=COMPRESS_LEVEL)
    return len(files)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    output: Path = args.output.resolve()
    if output.is_file():
        log(f"{output.name} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)

    cached = args.cache_dir / output.name if args.cache_dir else None
    if cached is not None and cached.is_file():
        log(f"copying {output.name} from the cache {args.cache_dir}")
        partial = output.with_name(output.name + ".partial")
        shutil.copyfile(cached, partial)
        partial.replace(output)
        return 0

    exclude = re.compile(args.exclude_regex)
    with tempfile.TemporaryDirectory(prefix="package-", dir=output.parent) as work:
        root = Path(work) / "root"
        content = root / args.prefix if args.prefix else root
        content.mkdir(parents=True)
        if args.requirements is not None:
            pip_install(args, content)
            prune_installed(content)
        copy_sources(args.source, content, exclude)
        partial = Path(work) / output.name
        count = write_zip(root, partial)
        partial.replace(output)
    size_mb = output.stat().st_size / 1_000_000
    log(f"wrote {output} ({count} files, {size_mb:.1f} MB)")

    if cached is not None:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(cached.name + ".partial")
        shutil.copyfile(output, partial)
        partial.replace(cached)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
