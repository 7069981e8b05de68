"""`.mlvc/config` is read without configparser where the file is plain (mlvc/config.py): it must
read every file as configparser does, or hand it to configparser."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvc.config import Config, _read, _read_plain
from mlvc.errors import ConfigError


def configparser_reads(path: Path) -> dict[str, dict[str, str]] | None:
    """What mlvc's configparser settings read from `path`; None where it refuses the file."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return None
    return {name: dict(parser.items(name, raw=True)) for name in parser.sections()}


WORDS = st.sampled_from(["core", "Link", "remote", "url", "a", "DEFAULT", " x ", "k:v", "a=b", "#", ";", "s3://b/p#q"])
LINE = st.one_of(
    st.builds(lambda w: f"[{w}]", WORDS),
    st.builds(lambda w: f'[remote "{w}"]', WORDS),
    st.builds(lambda k, sep, v: f"{k}{sep}{v}", WORDS, st.sampled_from(["=", " = ", ":", " : ", "\t=  "]), WORDS),
    st.builds(lambda w, c: f"{w} {c} comment", WORDS, st.sampled_from(["#", ";"])),
    st.builds(lambda lead, w: f"{lead}{w}", st.sampled_from([" ", "\t", "  # ", "; ", "#"]), WORDS),
    st.sampled_from(["", "   ", "[]", "[a] b", "[a] = b", "=x", "novalue", "\ufeff[core]", "key = a;b", "key = a ;b"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=8), newline=st.sampled_from(["\n", "\r\n"]))
def test_a_file_is_read_as_configparser_reads_it(tmp_path: Path, lines: list[str], newline: str) -> None:
    path = tmp_path / "config"
    path.write_bytes(newline.join(lines).encode())
    expected = configparser_reads(path)
    plain = _read_plain(path.read_text(encoding="utf-8"))
    if plain is not None:  # taken here: it must be what configparser reads
        assert plain == expected
    if expected is None:
        with pytest.raises(ConfigError):
            _read(str(path))
    else:
        assert _read(str(path)) == expected


def test_comments_after_a_value_and_values_that_hold_their_characters(tmp_path: Path) -> None:
    """The example in docs/formats.md: a comment after a value, behind a space, is a comment (it was
    read as part of the value); a `#` or `;` inside a value is kept."""
    (tmp_path / "config").write_text(
        "[core]\nlink = hardlink            # auto | reflink | copy | hardlink | symlink\n"
        "jobs = 4;\n"
        '[remote "store"]\nurl = s3://bucket/a#b;c\n'
    )
    cfg = Config(str(tmp_path / "config"), str(tmp_path / "config.local"))
    assert cfg.link_type == "hardlink"
    assert cfg.get("core", "jobs") == "4;"  # no space before the `;`: part of the value
    assert cfg.get("remote \"store\"", "URL") == "s3://bucket/a#b;c"


def test_set_and_unset_keep_the_local_file_over_the_shared_one(tmp_path: Path) -> None:
    cfg = Config(str(tmp_path / "config"), str(tmp_path / "config.local"))
    cfg.set("core", "link", "copy")
    cfg.set("core", "link", "hardlink", local=True)
    cfg.set('remote "store"', "url", "s3://b/p")
    assert cfg.get("core", "link") == "hardlink"
    again = Config(str(tmp_path / "config"), str(tmp_path / "config.local"))
    assert again.get("core", "link") == "hardlink" and again.section('remote "store"') == {"url": "s3://b/p"}
    assert again.sections() == ["core", 'remote "store"']
    again.unset("core", "link", local=True)
    assert again.get("core", "link") == "copy"
    assert Config(str(tmp_path / "config"), str(tmp_path / "config.local")).get("core", "link") == "copy"


def test_a_continued_value_goes_to_configparser(tmp_path: Path) -> None:
    (tmp_path / "config").write_text("[execute]\nengine = podman\n  --remote\n")
    assert _read_plain((tmp_path / "config").read_text()) is None
    assert _read(str(tmp_path / "config")) == {"execute": {"engine": "podman\n--remote"}}


def test_a_config_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config").write_bytes(b"[core]\nlink = \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        _read(str(tmp_path / "config"))
