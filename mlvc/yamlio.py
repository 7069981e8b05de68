"""Reading YAML the one way mlvc does: ruamel's safe loader, errors as `WHERE:LINE: not valid YAML (...)`."""

from __future__ import annotations

from typing import Any

from mlvc.errors import MlvcError


def load_yaml(text: str, where: str, error: type[MlvcError] = MlvcError) -> Any:
    """Parse `text`; a syntax error becomes `error` naming `where` and the line."""
    from ruamel.yaml import YAML  # lazy: ~15 ms, and most commands read no YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{where}{line}: not valid YAML ({problem})") from None
