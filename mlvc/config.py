"""`.mlvc/config` (committed) and `.mlvc/config.local` (git-ignored: credentials, machine paths).

INI format, like git's and DVC's: `[core]`, `[remote "name"]`. The local file overrides.
"""

from __future__ import annotations

import configparser
import os

from mlvc.errors import ConfigError

DEFAULTS = {
    "core": {"link": "auto", "lock_timeout": "60", "jobs": "0", "fsmonitor": "false"},
}
BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
LINK_CHOICES = ("auto", "reflink", "hardlink", "symlink", "copy")

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
        self.shared = _read(path)
        self.local = _read(local_path)

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        for parser in (self.local, self.shared):
            if parser.has_option(section, key):
                return parser.get(section, key)
        return DEFAULTS.get(section, {}).get(key, default)

    def set(self, section: str, key: str, value: str, local: bool = False) -> None:
        parser = self.local if local else self.shared
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
        _write(parser, self.local_path if local else self.path)

    def unset(self, section: str, key: str | None = None, local: bool = False) -> None:
        parser = self.local if local else self.shared
        if key is None:
            parser.remove_section(section)
        elif parser.has_section(section):
            parser.remove_option(section, key)
        _write(parser, self.local_path if local else self.path)

    def sections(self) -> list[str]:
        names = list(self.shared.sections())
        return names + [s for s in self.local.sections() if s not in names]

    def section(self, name: str) -> dict[str, str]:
        merged: dict[str, str] = {}
        for parser in (self.shared, self.local):
            if parser.has_section(name):
                merged.update(parser.items(name))
        return merged

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
    if section.startswith('remote "'):
        return
    name = f"{section}.{key}"
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


def _read(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        where = f"{path}:{line}" if line else path
        raise ConfigError(f"{where}: cannot parse config ({exc.message.splitlines()[0]})") from None
    return parser


def _write(parser: configparser.ConfigParser, path: str) -> None:
    from mlvc.links import write_bytes_atomic

    os.makedirs(os.path.dirname(path), exist_ok=True)
    import io

    buf = io.StringIO()
    parser.write(buf)
    write_bytes_atomic(path, buf.getvalue().encode())
