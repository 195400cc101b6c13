"""Helpers shared by the emulator tests (a uniquely named module, unlike conftest, so that
running these tests together with the project's own suite cannot mix up imports)."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def zip_files(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def wait_active(lam, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        conf = lam.get_function_configuration(FunctionName=name)
        if conf["State"] != "Pending" or time.monotonic() > deadline:
            return conf
        time.sleep(0.1)
