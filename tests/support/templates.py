"""Renders a state machine definition the way Terraform's templatefile() does for our files."""

import json
import re
from pathlib import Path

# Our definitions use only ${name} interpolation (no directives), so a strict substitution is an
# exact stand-in for templatefile(); an unknown or missing name fails as Terraform would.
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_definition(path: Path, variables: dict[str, str]) -> dict:
    text = path.read_text()
    if "%{" in text:
        raise ValueError(f"{path.name}: template directives are not supported by this renderer")
    names = set(_INTERPOLATION.findall(text))
    missing = names - variables.keys()
    if missing:
        raise KeyError(f"{path.name}: no value for template variable(s) {sorted(missing)}")
    rendered = _INTERPOLATION.sub(lambda m: str(variables[m.group(1)]), text).replace("$${", "${")
    return json.loads(rendered)


def template_variables(path: Path) -> set[str]:
    return set(_INTERPOLATION.findall(path.read_text()))
