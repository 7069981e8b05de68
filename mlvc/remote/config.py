"""Remote settings: `[remote "NAME"]` sections in `.mlvc/config`, secrets only in `config.local`.

    [core]
    remote = origin                 # the default remote
    [remote "origin"]
    url = s3://bucket/prefix
    endpointurl = http://127.0.0.1:8333
    region = us-east-1
    profile = team
A secret (`secret_access_key`, `password`, ...) is refused in the committed file: credentials come from
the environment, the provider's standard chain (AWS profiles, instance roles...) or `config.local`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mlvc.errors import RemoteConfigError

SECRET_KEYS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "password",
        "account_key",
        "sas_token",
        "connection_string",
        "token",
        "credentials",
        "client_secret",
        "passphrase",
    }
)
# Options a user may set (besides `url`); anything else is a typo we would otherwise silently ignore.
KNOWN_OPTIONS = SECRET_KEYS | {
    "endpointurl",
    "region",
    "profile",
    "jobs",
    "user",
    "port",
    "keyfile",
    "account_name",
    "project",
    "verify_ssl",
    "anon",
}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
KNOWN_PROTOCOLS = ("file", "s3", "gs", "gcs", "az", "abfs", "ssh", "sftp", "memory", "hdfs", "webdav", "http", "https")


@dataclass(frozen=True)
class RemoteConfig:
    name: str
    url: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return protocol_of(self.url)

    @property
    def secrets(self) -> list[str]:
        """Secret values, to blank out of any message."""
        return [v for k, v in self.options.items() if k in SECRET_KEYS and v]

    def public_dict(self, is_default: bool = False) -> dict[str, object]:
        opts = {k: ("***" if k in SECRET_KEYS else v) for k, v in sorted(self.options.items())}
        return {"name": self.name, "url": self.url, "default": is_default, "options": opts}


def protocol_of(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if not scheme or (len(scheme) == 1 and url[1:3] in (":\\", ":/")):  # plain path (or a Windows drive)
        return "file"
    return scheme


def section_name(name: str) -> str:
    return f'remote "{name}"'


def names(config) -> list[str]:
    out = []
    for s in config.sections():
        m = re.fullmatch(r'remote "(.+)"', s)
        if m:
            out.append(m.group(1))
    return out


def default_name(config) -> str | None:
    return config.get("core", "remote")


def load(config, name: str | None) -> RemoteConfig:
    """The named remote, or the default one."""
    if name is None:
        name = default_name(config)
        if name is None:
            known = names(config)
            if len(known) == 1:
                name = known[0]
            else:
                hint = f" (configured: {', '.join(known)}; pass -r NAME)" if known else ""
                raise RemoteConfigError(
                    "no default remote: add one with `mlvc remote add NAME URL --default`" + hint
                )
    section = config.section(section_name(name))
    if not section:
        known = names(config)
        hint = f"; configured: {', '.join(known)}" if known else "; add it with `mlvc remote add NAME URL`"
        raise RemoteConfigError(f"no remote named {name!r}{hint}")
    url = section.pop("url", None)
    if not url:
        raise RemoteConfigError(f"remote {name!r} has no url (set one with `mlvc remote modify {name} url URL`)")
    return RemoteConfig(name, url, section)


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise RemoteConfigError(f"{name!r} is not a valid remote name (letters, digits, '.', '_', '-')")


def check_url(url: str) -> None:
    proto = protocol_of(url)
    if proto not in KNOWN_PROTOCOLS:
        import fsspec

        if proto not in fsspec.available_protocols():
            raise RemoteConfigError(
                f"{url!r}: unknown protocol {proto!r} (use s3://, gs://, az://, ssh://, file:// or a folder path)"
            )


def add(config, name: str, url: str, default: bool = False, force: bool = False, local: bool = False) -> None:
    check_name(name)
    check_url(url)
    if name in names(config) and not force:
        raise RemoteConfigError(f"remote {name!r} already exists (use `mlvc remote modify` or --force)")
    if force:
        config.unset(section_name(name), local=local)
    config.set(section_name(name), "url", url, local=local)
    if default:
        config.set("core", "remote", name, local=local)


def modify(config, name: str, option: str, value: str | None, local: bool = False, unset: bool = False) -> None:
    if name not in names(config):
        raise RemoteConfigError(f"no remote named {name!r}")
    option = option.lower()
    if option != "url" and option not in KNOWN_OPTIONS:
        raise RemoteConfigError(
            f"unknown remote option {option!r}; known: url, {', '.join(sorted(KNOWN_OPTIONS))}"
        )
    if unset:
        config.unset(section_name(name), option, local=local)
        return
    if value is None:
        raise RemoteConfigError(f"give a value for {option} (or --unset)")
    if option in SECRET_KEYS and not local:
        raise RemoteConfigError(
            f"{option} is a secret: store it with `mlvc remote modify --local {name} {option} ...` "
            "(config.local is git-ignored) or use the environment"
        )
    if option == "url":
        check_url(value)
    config.set(section_name(name), option, value, local=local)


def remove(config, name: str) -> None:
    if name not in names(config):
        raise RemoteConfigError(f"no remote named {name!r}")
    for local in (False, True):
        config.unset(section_name(name), local=local)
        if (config.local if local else config.shared).get("core", {}).get("remote") == name:
            config.unset("core", "remote", local=local)


def set_default(config, name: str | None, local: bool = False) -> None:
    if name is None:
        config.unset("core", "remote", local=local)
        return
    if name not in names(config):
        raise RemoteConfigError(f"no remote named {name!r}")
    config.set("core", "remote", name, local=local)


def redact(message: str, secrets: list[str]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            message = message.replace(s, "***")
    return message
