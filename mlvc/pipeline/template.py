"""`${...}` interpolation, as in DVC's dvc.yaml: values from `vars`, params.yaml, `item`, `key`.

A string that is exactly one `${expr}` takes the value's type (a list stays a list); inside a
longer string a value is rendered: booleans as true/false, a mapping as `--key value` flags
(DVC's dict unpacking in `cmd`). `\\${` is a literal `${`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mlvc.errors import PipelineError

PATTERN = re.compile(r"(?<!\\)\$\{\s*([^{}]*?)\s*\}")
_INDEX = re.compile(r"^([^\[\]]*)((?:\[-?\d+\])*)$")


class Context:
    """Variables for interpolation. `loader` supplies the defaults (params.yaml) on first use,
    so a pipeline without `${` never reads a params file to parse. Children (a stage's vars,
    a foreach item) share the loaded defaults and the list of files read (`reads`)."""

    def __init__(self, layers: list[dict[str, Any]] | None = None, loader: Callable[[], dict] | None = None):
        self.layers = list(layers or [])
        self._shared: dict[str, Any] = {"loader": loader, "base": None if loader else {}, "reads": []}

    @property
    def reads(self) -> list[str]:
        """Files read for templating (repo-relative), so a cache of the parsed pipeline knows them."""
        return self._shared["reads"]

    def child(self, extra: dict[str, Any]) -> Context:
        ctx = Context(self.layers + [extra])
        ctx._shared = self._shared
        return ctx

    def _merged(self) -> dict[str, Any]:
        shared = self._shared
        if shared["base"] is None:
            shared["base"] = shared["loader"]() if shared["loader"] else {}
        merged = dict(shared["base"])
        for layer in self.layers:
            merged.update(layer)
        return merged

    def get(self, expr: str, where: str) -> Any:
        node: Any = self._merged()
        if not expr:
            raise PipelineError(f"{where}: empty interpolation ${{}}")
        walked: list[str] = []
        for part in expr.split("."):
            m = _INDEX.match(part)
            if m is None:
                raise PipelineError(f"{where}: cannot parse ${{{expr}}}")
            name, indexes = m.group(1), re.findall(r"\[(-?\d+)\]", m.group(2))
            if name:
                if not isinstance(node, dict) or name not in node:
                    raise PipelineError(f"{where}: ${{{expr}}} does not resolve: {_missing(walked, name, node)}")
                node = node[name]
                walked.append(name)
            for idx in indexes:
                if not isinstance(node, list) or not -len(node) <= int(idx) < len(node):
                    raise PipelineError(f"{where}: ${{{expr}}} does not resolve: no item [{idx}] in {'.'.join(walked)}")
                node = node[int(idx)]
                walked.append(f"[{idx}]")
        return node


def _missing(walked: list[str], name: str, node: Any) -> str:
    import difflib

    scope = ".".join(walked) or "the variables"
    if not isinstance(node, dict):
        return f"{scope} is not a mapping"
    close = difflib.get_close_matches(name, [str(k) for k in node], n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"no {name!r} in {scope}{hint}"


def has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    return False


def resolve(value: Any, ctx: Context, where: str) -> Any:
    """`value` with every `${...}` replaced; containers become plain dicts and lists."""
    if isinstance(value, str):
        return _resolve_str(value, ctx, where)
    if isinstance(value, dict):
        # keys too: an out with options is `{"${item}.json": {cache: false}}`
        return {_key(k, ctx, where): resolve(v, ctx, where) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ctx, where) for v in value]
    return value


def _key(key: Any, ctx: Context, where: str) -> Any:
    if isinstance(key, str) and "${" in key:
        return str(_resolve_str(key, ctx, where))
    return key


def _resolve_str(text: str, ctx: Context, where: str) -> Any:
    if "${" not in text:
        return text
    whole = PATTERN.fullmatch(text)
    if whole is not None:
        return ctx.get(whole.group(1), where)
    out = PATTERN.sub(lambda m: render(ctx.get(m.group(1), where), m.group(1), where), text)
    return out.replace("\\${", "${")


def render(value: Any, expr: str, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "None"
    if isinstance(value, dict):
        return " ".join(_flag(k, v, expr, where) for k, v in value.items())
    if isinstance(value, list):
        return " ".join(render(v, expr, where) for v in value)
    return str(value)


def _flag(key: str, value: Any, expr: str, where: str) -> str:
    if isinstance(value, bool):
        return f"--{key}" if value else f"--no-{key}"
    if isinstance(value, dict):
        raise PipelineError(f"{where}: ${{{expr}}}: cannot render nested mapping {key!r} into a string")
    return f"--{key} {render(value, expr, where)}"
