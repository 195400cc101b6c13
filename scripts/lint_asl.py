"""Validates every state machine in statemachines/ as Amazon States Language (statelint).

The files are Terraform templates, so each is rendered first with well-formed stand-in values for
its ${...} variables: an ARN-shaped value for *_arn, a plain string otherwise.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.templates import render_definition, template_variables  # noqa: E402


def stand_in(name: str) -> str:
    if name.endswith("_function_arn"):
        return f"arn:aws:lambda:us-east-1:123456789012:function:textloop-{name[:-13]}"
    if name.endswith("_arn"):
        return f"arn:aws:sns:us-east-1:123456789012:textloop-{name[:-4]}"
    return f"textloop-{name}"


def main() -> int:
    files = sorted((REPO / "statemachines").glob("*.asl.json"))
    if not files:
        print("lint_asl: no state machines found", file=sys.stderr)
        return 1
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            variables = {name: stand_in(name) for name in template_variables(path)}
            rendered = Path(tmp) / path.name
            rendered.write_text(json.dumps(render_definition(path, variables)))
            result = subprocess.run(  # noqa: S603 - our own venv's statelint on our own files
                [str(Path(sys.executable).parent / "statelint"), str(rendered)],
                capture_output=True,
                text=True,
                check=False,
            )
            status = "ok" if result.returncode == 0 else "INVALID"
            print(f"statelint {path.relative_to(REPO)}: {status}")
            if result.returncode != 0:
                failed += 1
                print(result.stdout + result.stderr, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
