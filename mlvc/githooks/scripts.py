"""The hook scripts: small POSIX shell scripts that run `mlvc hook NAME`.

The copies under `hooks/` at the repository root are these texts (a test keeps them equal); they
are what the pre-commit framework runs and what `mlvc install-hooks` installs. A script:
runs the hook it replaced first (kept as `NAME.pre-mlvc`, given the same arguments and input),
exits 0 quietly where there is no `.mlvc/` (a teammate without mlvc is not blocked), says so and
exits 0 when `mlvc` is not on PATH, and otherwise hands over to `mlvc hook NAME`.
"""

from __future__ import annotations

HOOKS = ("pre-commit", "post-checkout", "post-merge", "pre-push")
MARKER = "# mlvc-hook:"  # the line that marks a hook file as ours
CHAINED_SUFFIX = ".pre-mlvc"  # where install-hooks keeps the hook it found in place

_HEAD = """#!/bin/sh
{marker} {name}
# Installed by `mlvc install-hooks`; `mlvc install-hooks --uninstall` removes it and puts back
# the hook it replaced, kept meanwhile as {name}{suffix} and run first.
hook={name}
prev="$0{suffix}"
"""

_CHAIN = """if [ -x "$prev" ]; then
    "$prev" "$@" || exit $?
fi
"""

# pre-push reads the pushed refs on stdin: keep a copy for the chained hook and for mlvc.
_CHAIN_STDIN = """if [ -x "$prev" ]; then
    input=$(mktemp) || exit 1
    cat >"$input"
    "$prev" "$@" <"$input" || { rc=$?; rm -f "$input"; exit $rc; }
    exec <"$input"
    rm -f "$input"
fi
"""

_TAIL = """[ -d .mlvc ] || exit 0
if ! command -v mlvc >/dev/null 2>&1; then
    echo "mlvc: $hook hook skipped: mlvc is not on PATH" >&2
    exit 0
fi
exec mlvc hook "$hook" "$@"
"""


def script(name: str) -> str:
    """The text of hook NAME (one of HOOKS)."""
    if name not in HOOKS:
        raise ValueError(f"not an mlvc hook: {name}")
    head = _HEAD.format(marker=MARKER, name=name, suffix=CHAINED_SUFFIX)
    return head + (_CHAIN_STDIN if name == "pre-push" else _CHAIN) + _TAIL


def is_ours(text: str) -> bool:
    return any(line.startswith(MARKER) for line in text.splitlines()[:3])
