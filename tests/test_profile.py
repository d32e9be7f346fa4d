"""Profile loading: Pan escaping, JSON and panc XML, types, errors naming the profile path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spma import pan
from spma.errors import ProfileError
from spma.model import PackageDecl
from spma.profile import load_profile, parse_profile
from tests.helpers import REPO_ROOT, profile_tree, to_pan_xml

EXAMPLES = REPO_ROOT.parent / "shared" / "examples"


@pytest.mark.parametrize(
    "escaped, plain",
    [
        ("gcc_2dc_2b_2b", "gcc-c++"),
        ("_31_3a3_2e0_2d1", "1:3.0-1"),
        ("mod_5fssl", "mod_ssl"),
        ("kernel_2a", "kernel*"),
        ("_35_2e14_2e0_2d427_2e13_2e1_2eel9_5f4", "5.14.0-427.13.1.el9_4"),
        ("_", ""),
        ("ncm_2dspma", "ncm-spma"),
    ],
)
def test_pan_unescape_known_values(escaped, plain):
    assert pan.unescape(escaped) == plain
    assert pan.escape(plain) == escaped


@given(st.text(min_size=0, max_size=40))
def test_pan_escape_round_trip(s):
    e = pan.escape(s)
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in e)
    assert pan.unescape(e) == s


def _unescape_by_loop(s: str) -> str:
    """unescape without its fast path for names with nothing escaped: one character at a time."""
    if s == "_":
        return ""
    raw, pos = bytearray(), 0
    while pos < len(s):
        if s[pos] == "_":
            if not re.match(r"_[0-9a-f]{2}", s[pos:]):
                raise pan.EscapeError(s)
            raw.append(int(s[pos + 1 : pos + 3], 16))
            pos += 3
        else:
            raw.extend(s[pos].encode("utf-8"))
            pos += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise pan.EscapeError(s) from e


def _outcome(f, s):
    try:
        return f(s)
    except Exception as e:  # noqa: BLE001 - the comparison is of the exception's type
        return type(e)


@given(
    st.lists(
        st.sampled_from(list("az09_-.+") + ["\u00e9", "\ud800", "_2d", "_c3_a9", "_ff", "_2"]), max_size=8
    ).map("".join)
)
def test_pan_unescape_equals_the_character_loop(s):
    assert _outcome(pan.unescape, s) == _outcome(_unescape_by_loop, s)


@pytest.mark.parametrize("bad", ["foo_", "foo_2", "foo_zz", "a_2D"])
def test_pan_bad_escapes(bad):
    with pytest.raises(pan.EscapeError):
        pan.unescape(bad)


def test_example_el9_web_json():
    p = load_profile(str(EXAMPLES / "el9-web.json"))
    decls = {d.name: d for d in p.packages}
    assert decls["gcc-c++"] == PackageDecl("gcc-c++", (), ("x86_64",))
    assert decls["openssl"].versions == ("1:3.0.7-27.el9",)
    assert decls["kernel*"].is_glob and decls["kernel*"].versions == ("5.14.0-427.22.1.el9_4",)
    assert decls["glibc"].arches == ("i686", "x86_64")
    assert decls["vim-enhanced"] == PackageDecl("vim-enhanced")
    assert p.userpkgs is False and p.run is True and p.max_removals == 40
    assert p.whitelist == ("site-monitoring-agent",)
    assert p.boot_only == ("glibc*", "systemd*", "dbus*", "kernel*", "linux-firmware*")
    assert [r.name for r in p.repositories] == ["baseos", "appstream", "site"]
    assert p.repositories[1].excludepkgs == ("nginx*",) and p.repositories[2].gpgcheck is False
    assert p.repositories[0].priority == 10


def test_example_el9_small_xml():
    p = load_profile(str(EXAMPLES / "el9-small.xml"))
    assert {d.name: d.versions for d in p.packages} == {"httpd": (), "openssl": ("1:3.0.7-27.el9",)}
    assert p.packager == "dnf" and p.userpkgs is False
    assert p.repositories[0].baseurls == ("https://mirror.example.org/almalinux/9/BaseOS/x86_64/os/",)


def test_example_debian_switch():
    p = load_profile(str(EXAMPLES / "debian12-switch.json"))
    assert p.packager == "apt"
    assert dict((d.name, d.versions) for d in p.packages)["openssl"] == ("3.0.11-1~deb12u2",)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9+._-]{0,15}", fullmatch=True),
        st.one_of(st.none(), st.from_regex(r"([0-9]:)?[0-9][0-9.]{0,6}-[0-9a-z._]{1,6}", fullmatch=True)),
        max_size=6,
    ),
    st.booleans(),
)
@settings(max_examples=60)
def test_json_and_xml_give_the_same_profile(packages, userpkgs):
    tree = profile_tree(packages, {"os": "/srv/repo"}, userpkgs=userpkgs)
    pj = parse_profile(json.dumps(tree).encode(), source="p.json")
    px = parse_profile(to_pan_xml(tree).encode(), source="p.xml")
    assert pj.packages == px.packages and pj.repositories == px.repositories
    assert pj.userpkgs == px.userpkgs == userpkgs
    assert {d.name for d in pj.packages} == set(packages)


@pytest.mark.parametrize("value, expected", [("yes", True), ("no", False), (True, True), (False, False)])
def test_yes_no_and_booleans(value, expected):
    tree = profile_tree({}, {"os": "/r"}, run=value, userpkgs=value)
    p = parse_profile(json.dumps(tree).encode())
    assert p.run is expected and p.userpkgs is expected


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda t: t["software"]["components"]["spma"].__setitem__("run", "maybe"), "/software/components/spma/run"),
        (lambda t: t["software"].__setitem__("packages", []), "/software/packages"),
        (lambda t: t["software"]["repositories"][0].pop("name"), "/software/repositories/0/name"),
        (lambda t: t["software"]["repositories"][0]["protocols"][0].__setitem__("url", "ftp://x/"),
         "/software/repositories/0/protocols/0/url"),
        (lambda t: t["software"]["repositories"][0].__setitem__("priority", 500), "/software/repositories/0/priority"),
        (lambda t: t["software"]["components"]["spma"].__setitem__("packager", "zypper"),
         "/software/components/spma/packager"),
        (lambda t: t["software"]["components"]["spma"].__setitem__("max_removals", "ten"),
         "/software/components/spma/max_removals"),
        (lambda t: t["software"]["packages"].__setitem__("bad_zzname", {}), "/software/packages/bad_zzname"),
        (lambda t: t.pop("software"), "/software"),
    ],
)  # fmt: skip
def test_errors_name_the_profile_path(mutate, where):
    tree = profile_tree({"bar": None}, {"os": "/srv/repo"})
    mutate(tree)
    with pytest.raises(ProfileError) as ei:
        parse_profile(json.dumps(tree).encode(), source="host.json")
    assert str(ei.value).startswith("host.json: %s:" % where)


def test_unknown_repository_keys_warn_not_fail():
    tree = profile_tree({"bar": None}, {"os": "/srv/repo"})
    tree["software"]["repositories"][0]["colour"] = "blue"
    p = parse_profile(json.dumps(tree).encode(), source="h.json")
    assert any("/software/repositories/0/colour" in w for w in p.warnings)


@pytest.mark.parametrize(
    "doc",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><nlist name="profile"><string name="x">&a;</string></nlist>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><nlist name="p">&e;</nlist>',
        b"<nlist name='profile'><nlist name='software'><bogus name='x'/></nlist></nlist>",
        b"<nlist name='profile'><nlist",
        b"<nlist name='profile'><nlist name='software'><long name='x'>12a</long></nlist></nlist>",
    ],
)
def test_hostile_or_broken_xml_is_exit_3(doc):
    with pytest.raises(ProfileError) as ei:
        parse_profile(doc, source="evil.xml")
    assert ei.value.exit_code == 3 and str(ei.value).startswith("evil.xml: ")


def test_deep_nesting_is_refused():
    doc = "<nlist name='p'>" + "<nlist name='x'>" * 200 + "</nlist>" * 200 + "</nlist>"
    with pytest.raises(ProfileError, match="nested deeper"):
        parse_profile(doc.encode(), source="deep.xml")
    deep_json = '{"software": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    with pytest.raises(ProfileError):
        parse_profile(deep_json.encode(), source="deep.json")


def test_missing_file_and_stdin(tmp_path: Path):
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(str(tmp_path / "nope.json"))
    import io

    tree = profile_tree({"bar": None}, {"os": "/r"})
    p = load_profile("-", stdin=io.BytesIO(json.dumps(tree).encode()))
    assert [d.name for d in p.packages] == ["bar"]
