"""`.mlvc/config` (committed) and `.mlvc/config.local` (git-ignored: credentials, machine paths).

INI format, like git's and DVC's: `[core]`, `[remote "name"]`, `key = value`, comments from `#`
or `;` (also after a value, behind a space). The local file overrides.

Every command reads the config before its first step: a plain file (section headers, one-line
`key = value`, comments) is parsed here, in a few microseconds; anything else (a value continued
on an indented line, a duplicate, a DEFAULT section, a syntax error) goes to configparser, which
with `re` costs ~8 ms of start-up. Writing always goes through configparser.
"""

from __future__ import annotations

import os

from mlvc.errors import ConfigError

DEFAULTS = {
    "core": {"link": "auto", "lock_timeout": "60", "jobs": "0", "fsmonitor": "false"},
}
BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
LINK_CHOICES = ("auto", "reflink", "hardlink", "symlink", "copy")
CUT_SHORT = "would be read back cut short (a # or ; after a space begins a comment)"

# Every key a command reads, with the values it takes: `mlvc config` sets no other (a misspelt key
# would be ignored in silence) and checks a value as its reader will. A `remote "NAME"` section
# takes any key: its options go to the remote's fsspec filesystem.
TEXT, BOOL, COUNT = "text", "true or false", "a whole number 0 or more"
NUMBER, POSITIVE = "a number 0 or more", "a number above 0"
KEYS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "core": {"link": LINK_CHOICES, "lock_timeout": NUMBER, "jobs": COUNT, "fsmonitor": BOOL, "remote": TEXT},
    "cache": {"dir": TEXT},
    "hooks": {"pre_commit": ("refuse", "warn", "off"), "remote": TEXT},
    "execute": {
        "executor": ("local", "container", "ray"), "engine": TEXT, "jobs": COUNT, "address": TEXT,
        "cpus": POSITIVE, "memory": TEXT, "gpus": TEXT,  # memory (8G) and gpus (0,1) are parsed where read
    },
    "ray": {
        "address": TEXT, "remote": TEXT, "gpu_resource": TEXT, "max_retries": COUNT, "worker_cache": TEXT,
        "scratch": TEXT,
    },
    "data": {"max_js": NUMBER, "max_linf": NUMBER, "max_new": NUMBER, "max_null": NUMBER},
}  # fmt: skip


class Config:
    def __init__(self, path: str, local_path: str) -> None:
        self.path = path
        self.local_path = local_path
        self.shared = _read(path)  # {section: {key: value}}, as configparser reads the file
        self.local = _read(local_path)

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        key = key.lower()  # configparser's keys are case-insensitive
        for values in (self.local, self.shared):
            value = values.get(section, {}).get(key)
            if value is not None:
                return value
        return DEFAULTS.get(section, {}).get(key, default)

    def set(self, section: str, key: str, value: str, local: bool = False) -> None:
        if _cut_short(value):
            raise ConfigError(f"{dotted(section, key)}: {value!r} {CUT_SHORT}")

        def change(parser) -> None:
            if not parser.has_section(section):
                parser.add_section(section)
            parser.set(section, key, value)

        self._edit(local, change)

    def unset(self, section: str, key: str | None = None, local: bool = False) -> None:
        def change(parser) -> None:
            if key is None:
                parser.remove_section(section)
            elif parser.has_section(section):
                parser.remove_option(section, key)

        self._edit(local, change)

    def sections(self) -> list[str]:
        names = list(self.shared)
        return names + [s for s in self.local if s not in names]

    def section(self, name: str) -> dict[str, str]:
        return {**self.shared.get(name, {}), **self.local.get(name, {})}

    def _edit(self, local: bool, change) -> None:
        path = self.local_path if local else self.path
        parser = _parse(path)
        change(parser)
        _write(parser, path)
        values = {name: dict(parser.items(name, raw=True)) for name in parser.sections()}
        if local:
            self.local = values
        else:
            self.shared = values

    @property
    def link_type(self) -> str:
        value = self.get("core", "link") or "auto"
        if value not in LINK_CHOICES:
            raise ConfigError(
                f"{self.path}: core.link is {value!r}; choose one of {', '.join(LINK_CHOICES)}"
            )
        return value

    def get_bool(self, section: str, key: str) -> bool:
        value = (self.get(section, key) or "false").strip().lower()
        if value not in BOOLEANS:
            raise ConfigError(f"{self.path}: {section}.{key} must be true or false, not {value!r}")
        return BOOLEANS[value]

    def get_count(self, section: str, key: str) -> int:
        value = self.get(section, key)
        if value is None or not value.strip():
            return 0
        if not value.strip().isdigit():
            raise ConfigError(f"{self.path}: {section}.{key} must be a whole number 0 or more, not {value!r}")
        return int(value)

    def get_float(self, section: str, key: str) -> float:
        value = self.get(section, key)
        try:
            return float(value or 0)
        except ValueError:
            raise ConfigError(f"{self.path}: {section}.{key} must be a number, not {value!r}") from None


def check_setting(section: str, key: str, value: str | None = None) -> None:
    """Raise ConfigError unless `key` of `section` (`core`, `remote "origin"`) is one mlvc reads and
    `value` (None: not given) one it takes; the message names the key as `mlvc config` spells it."""
    name = dotted(section, key)
    if value is not None and _cut_short(value):
        raise ConfigError(f"{name}: {value!r} {CUT_SHORT}")
    if section.startswith('remote "'):
        return
    known = KEYS.get(section)
    if known is None:
        raise ConfigError(f"{name}: no such section {section!r} (sections: {', '.join(KEYS)}, remote.NAME)")
    kind = known.get(key)
    if kind is None:
        import difflib

        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {section}.{close[0]}?" if close else f"{section} has {', '.join(known)}"
        raise ConfigError(f"{name}: no such key; {hint}")
    if value is None or kind == TEXT:
        return
    text = value.strip().lower()
    if isinstance(kind, tuple):
        ok = text in kind
    elif kind == BOOL:
        ok = text in BOOLEANS
    elif kind == COUNT:
        ok = text.isdigit()
    else:
        try:
            ok = float(text) > 0 if kind == POSITIVE else float(text) >= 0
        except ValueError:
            ok = False
    if not ok:
        wanted = f"one of {', '.join(kind)}" if isinstance(kind, tuple) else kind
        raise ConfigError(f"{name}: {value!r} is not {wanted}")


def dotted(section: str, key: str) -> str:
    """A key as `mlvc config` spells it: `core.link`, `remote.origin.url` (section `remote "origin"`)."""
    return f"{section}.{key}".replace(' "', ".").replace('"', "")


def _read(path: str) -> dict[str, dict[str, str]]:
    """The sections of the INI file at `path` ({} when there is none), as `_parse` gives them."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        text = None
    plain = _read_plain(text) if text is not None else None
    if plain is not None:
        return plain
    parser = _parse(path)
    return {name: dict(parser.items(name, raw=True)) for name in parser.sections()}


def _read_plain(text: str) -> dict[str, dict[str, str]] | None:
    """`text` read as configparser reads it (`_parse`), where it holds only section headers,
    one-line `key = value` (or `key: value`) and comments; None for anything else."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.split("\n"):  # (read in text mode: \r\n is \n)
        line = line[: _comment_start(line)]
        stripped = line.strip()
        if not stripped:
            continue
        if line[0].isspace():
            return None  # a continued value (or an indented line): configparser's rules
        if stripped[0] == "[":
            if stripped[-1] != "]":
                return None  # configparser takes `[a] b` for section `a`
            name = stripped[1:-1]
            if not name or name == "DEFAULT" or name in sections:
                return None
            current = sections[name] = {}
            continue
        eq, colon = stripped.find("="), stripped.find(":")
        at = min(i for i in (eq, colon, len(stripped)) if i >= 0)
        key = stripped[:at].rstrip().lower()
        if current is None or at == len(stripped) or not key or key in current:
            return None
        current[key] = stripped[at + 1 :].strip()
    return sections


def _cut_short(value: str) -> bool:
    """Whether `value`, once written, would read back shorter: it holds a comment or a line break."""
    return "\n" in value or _comment_start(value) < len(value)


def _comment_start(line: str) -> int:
    """Where a comment begins in `line`: a `#` or `;` that starts it or follows whitespace
    (configparser's inline comments); len(line) where there is none."""
    if "#" not in line and ";" not in line:
        return len(line)
    for i, char in enumerate(line):
        if char in "#;" and (i == 0 or line[i - 1].isspace()):
            return i
    return len(line)


def _parse(path: str):
    """The configparser.ConfigParser of the file at `path`, with mlvc's settings: no interpolation
    (a `%` in a URL or secret is just a `%`), `#` and `;` comments also after a value."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        where = f"{path}:{line}" if line else path
        raise ConfigError(f"{where}: cannot parse config ({exc.message.splitlines()[0]})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot parse config (not UTF-8: {exc.reason} at byte {exc.start})") from None
    return parser


def _write(parser, path: str) -> None:
    from mlvc.links import write_bytes_atomic

    os.makedirs(os.path.dirname(path), exist_ok=True)
    import io

    buf = io.StringIO()
    parser.write(buf)
    write_bytes_atomic(path, buf.getvalue().encode())
