"""Hostile input: profiles and advisory data are untrusted. Every value is checked against its
grammar where it enters, and every writer's output parses back to exactly the entries written
(or the value is refused): no newline, quote, glob or regex ever becomes structure in a .repo
file, an apt source line, a Pan template, a versionlock list or an apt preferences file.
"""

from __future__ import annotations

import configparser
import datetime as dt
import gzip
import json
import re
import zlib
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spma.backends.apt.config import source_line
from spma.backends.dnf.base import render_repo
from spma.errata import debian, osv, updateinfo, writers
from spma.errata.model import Entry, VersionSet
from spma.errata.problems import Problems
from spma.errata.versionset import dumps, loads

from spma import grammar, keys, pan, repofiles
from spma.errors import InputError, ProfileError
from spma.profile import parse_profile
from tests.builders.rpmrepo import SigningKey

# strings an attacker would try, and arbitrary text
NASTY = ["a\nb", "a\rb", "a\x00b", "a b", "*", "/.*/", "a,b", 'a"b', "a\\b", "\u2028", "é", "\ud800",
         "x#y", "-rf", "a;b", "$(id)", "a\tb", "\x85", "..", "[ab]", "a:b", "a=b"]  # fmt: skip
text = st.one_of(
    st.sampled_from(NASTY), st.text(max_size=12), st.from_regex(r"[a-z0-9][a-z0-9.+-]{0,8}", fullmatch=True)
)


def _profile(**repo: Any) -> bytes:
    r = {"name": "os", "gpgcheck": False, "protocols": [{"name": "f", "url": "https://mirror.example/os"}]}
    r.update(repo)
    tree = {"software": {"packages": {"foo": {}}, "repositories": [r], "components": {"spma": {}}}}
    return json.dumps(tree).encode()


# --- profiles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tree,path",
    [
        ({"packages": {"foo": {"1.0": {"arch": {"x86_64\n": ""}}}}}, "/software/packages/foo/1.0/arch/x86_64"),
        ({"packages": {"foo": {"1.0": {"arch": {"../x": ""}}}}}, "/software/packages/foo/1.0/arch/../x"),
        ({"packages": {pan.escape("foo\nbar"): {}}}, "/software/packages/foo_0abar"),
        ({"packages": {pan.escape("/.*/"): {}}}, "/software/packages/"),
        ({"packages": {"foo": {pan.escape("1.0\r"): {}}}}, "/software/packages/foo/_31_2e0_0d"),
        ({"packages": {"f\u00e9": {}}}, "/software/packages/f"),
        ({"packages": {"foo": {}}, "components": {"spma": {"whitelist": ["a\rb"]}}}, "/software/components/spma/whitelist/0"),
        ({"packages": {"foo": {}}, "components": {"spma": {"excludes": ["a b"]}}}, "/software/components/spma/excludes/0"),
        ({"packages": {"foo": {}}, "components": {"spma": {"proxyhost": "h\n", "proxy": "yes"}}}, "/software/components/spma/proxyhost"),
        ({"packages": {"foo": {}}, "components": {"spma": {"proxyhost": "h", "proxyport": "99999"}}}, "/software/components/spma/proxyport"),
        ({"packages": {"foo": {}}, "components": {"spma": {"proxy": "http://h:3128/\rx"}}}, "/software/components/spma/proxy"),
        ({"packages": {"foo": {}}, "components": {"spma": {"errata": "x\u2028y"}}}, "/software/components/spma/errata"),
        ({"packages": {"foo": {}}, "x": {"\ud800": 1}}, "/software/x/"),
        ({"packages": {"foo": {}}, "x": ["ok", "\udcff"]}, "/software/x/1"),
    ],
)  # fmt: skip
def test_hostile_profile_values_are_refused_naming_the_path(tree: Dict[str, Any], path: str):
    data = json.dumps({"software": tree}).encode()
    with pytest.raises(ProfileError) as ei:
        parse_profile(data, source="p.json")
    assert ei.value.exit_code == 3 and ei.value.message.startswith("p.json: " + path), ei.value.message


@pytest.mark.parametrize(
    "field,value",
    [
        ("gpgkey", ["-"]), ("gpgkey", ["/etc/shadow"]), ("gpgkey", ["ftp://h/k"]), ("gpgkey", ["file://k\rx"]),
        ("gpgkey", ["https://h/k k2"]), ("proxy", "http://h:0"), ("proxy", "gopher://h"), ("proxy", "http://"),
        ("proxy", "http://h/path"), ("excludepkgs", ["a,b"]), ("excludepkgs", ["a\rb"]), ("includepkgs", ["x y"]),
        ("name", "r\u00e9po"), ("name", ".hidden"), ("name", "a/b"),
        ("protocols", [{"name": "f", "url": "https://h/os\r\nbaseurl=https://evil"}]),
        ("protocols", [{"name": "f", "url": "https://h/a,https://evil/"}]),
        ("protocols", [{"name": "f", "url": "https://h/os#frag"}]),
        ("protocols", [{"name": "f", "url": "file:///x s main [trusted=yes]"}]),
        ("protocols", [{"name": "f", "url": "https://h/x", "cacert": "/etc/ca\rsslverify=0"}]),
    ],
)  # fmt: skip
def test_hostile_repository_fields_are_refused(field: str, value: Any):
    with pytest.raises(ProfileError) as ei:
        parse_profile(_profile(**{field: value}), source="p.json")
    assert "/software/repositories/0/" in ei.value.message


def _read_repo_file(textout: str, name: str) -> Dict[str, List[str]]:
    cp = configparser.RawConfigParser(strict=True, delimiters=("=",), comment_prefixes=("#",),
                                      inline_comment_prefixes=None, interpolation=None)  # fmt: skip
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(textout)
    assert cp.sections() == [name]
    # dnf splits list options on whitespace and commas; a single value is taken whole
    lists = ("baseurl", "gpgkey", "excludepkgs", "includepkgs")
    return {k: re.split(r"[\s,]+", v.strip()) if k in lists else [v.strip()] for k, v in cp.items(name)}


FIELDS = ["url", "proxy", "exclude", "include", "cacert", "key", "name"]


@given(field=st.sampled_from(FIELDS), value=text, prefix=st.sampled_from(["", "https://m.example/", "/c/"]))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_repo_file_parses_back_to_the_profiles_values_or_refuses(field, value, prefix):
    """One hostile value at a time (the others valid, so the value under test is what decides)."""
    fields: Dict[str, Any] = {"protocols": [{"name": "f", "url": "https://m.example/os", "cacert": "/c/ca.pem"}],
                              "proxy": "http://p.example:3128", "excludepkgs": ["nginx*"], "includepkgs": ["a?"],
                              "gpgkey": ["https://k.example/key"], "gpgcheck": True}  # fmt: skip
    v = prefix + value
    if field == "url":
        fields["protocols"][0]["url"] = v
    elif field == "cacert":
        fields["protocols"][0]["cacert"] = v
    elif field == "proxy":
        fields["proxy"] = v
    elif field == "exclude":
        fields["excludepkgs"] = [value, "x"]
    elif field == "include":
        fields["includepkgs"] = [value]
    elif field == "key":
        fields["gpgkey"] = [v, "https://k.example/2"]
    else:
        fields["name"] = value
    try:
        prof = parse_profile(_profile(**fields), source="p.json")
        text_out = repofiles.HEADER + render_repo(prof.repositories[0])
    except ProfileError:
        return
    repo = prof.repositories[0]
    got = _read_repo_file(text_out, repo.name)
    assert got["baseurl"] == list(repo.baseurls)
    assert got.get("proxy") == ([repo.proxy] if repo.proxy else None)
    assert got["excludepkgs"] == list(repo.excludepkgs) and got["includepkgs"] == list(repo.includepkgs)
    assert got["gpgkey"] == list(repo.gpgkeys)
    assert got["sslcacert"] == [repo.sslcacert]
    assert got["name"] == [repo.name]
    # and apt reads the same URI from its source line
    line = source_line(repo, repo.baseurls[0], keys=["/etc/apt/keyrings/k.asc"])
    assert line.endswith("\n") and line.count("\n") == 1
    words = line.split()
    assert words[0] == "deb" and words[1] == "[signed-by=/etc/apt/keyrings/k.asc]"
    assert words[2] == repo.baseurls[0] and words[3:] == ["./"]


# --- writers of version sets ------------------------------------------------------------------


def _parse_pan_string(s: str, pos: int) -> Tuple[str, int]:
    assert s[pos] == '"'
    out = []
    i = pos + 1
    while s[i] != '"':
        if s[i] == "\\":
            c = s[i + 1]
            if c == "x":
                out.append(chr(int(s[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append({"n": "\n", "t": "\t"}.get(c, c))
            i += 2
            continue
        out.append(s[i])
        i += 1
    return "".join(out), i + 1


_STMT = re.compile(r"^'/software/packages' = pkg_ronly\((.*)\);(  # [ -~]*)?$")


def _pan_entries(text_out: str) -> Set[Tuple[str, str, str]]:
    """Every statement of a generated template; anything else than a comment, the template
    line, a blank line or a pkg_ronly statement fails."""
    got = set()
    for line in text_out.split("\n"):
        if not line or line.startswith("#") or re.match(r"^unique template [A-Za-z0-9_./+-]+;$", line):
            if line.startswith("#"):
                assert line.isascii() and line.isprintable()
            continue
        m = _STMT.match(line)
        assert m, "unexpected Pan line %r" % line
        args, pos, body = [], 0, m.group(1)
        while pos < len(body):
            val, pos = _parse_pan_string(body, pos)
            args.append(val)
            if body.startswith(", ", pos):
                pos += 2
        got.add((args[0], args[1], args[2] if len(args) > 2 else ""))
    return got


def _set(
    name: str, evr: str, arch: str, adv: str, family: str = "rpm", source: str = "in.xml"
) -> VersionSet:
    return VersionSet(id="el9-2024-01-31", os="el9", family=family, cutoff=dt.date(2024, 1, 31),
                      sources=(source,), kernel=None,
                      packages={name: Entry(evr, (arch,) if arch else (), (adv,))})  # fmt: skip


evrs = st.one_of(text, st.sampled_from(["1.0-1", "1:2.3-4.el9", "2.36-9", "1.0-1+b1"]))


@given(field=st.sampled_from(["name", "evr", "arch", "adv", "source"]), value=st.one_of(text, evrs, st.just("")),
       valid_evr=evrs.filter(lambda v: grammar.version(v) is None))  # fmt: skip
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_writer_parses_back_or_refuses(field, value, valid_evr):
    """One value at a time is hostile, the rest valid: for any string, each writer's output
    reads back as exactly the entry written, or the writer refuses it."""
    vals = {"name": "foo", "evr": valid_evr, "arch": "x86_64", "adv": "ALSA-2024:1", "source": "in.xml"}
    vals[field] = value
    name, evr, arch, adv, source = (vals[k] for k in ("name", "evr", "arch", "adv", "source"))
    vs = _set(name, evr, arch, adv, source=source)
    want_arch = arch
    # JSON
    try:
        back, _ = loads(dumps(vs).encode(), "set.json")
        writers.check_set(vs)
    except InputError:
        with pytest.raises(InputError):
            writers.check_set(vs)
        return
    assert back.packages == vs.packages
    # Pan: exactly one statement, the entry's values
    tmpl = writers.pan_templates(vs)[0][1]
    assert _pan_entries(tmpl) == {(name, evr, want_arch)}
    # versionlock: name-E:V-R.arch
    try:
        lock = writers.versionlock(vs)
    except InputError:
        lock = None
    if lock is not None:
        lines = [ln for ln in lock.splitlines() if not ln.startswith("#")]
        assert len(lines) == 1
        nevr, a = lines[0].rsplit(".", 1)
        n, e_v, r = nevr.rsplit("-", 2)
        assert (n, "%s-%s" % (e_v, r), a) == (name, evr if ":" in evr else "0:" + evr, want_arch or "*")
    # apt preferences: one stanza, exact name, exact version, no pattern
    prefs = writers.apt_preferences(_set(name, evr, arch, adv, family="deb"))
    stanzas = prefs.strip("\n").split("\n\n")
    assert len(stanzas) == 2 and all(ln.startswith("#") for ln in stanzas[0].splitlines())
    fields = dict(ln.split(": ", 1) for ln in stanzas[1].split("\n"))
    assert set(fields) == {"Explanation", "Package", "Pin", "Pin-Priority"}
    assert fields["Package"] == ("%s:%s" % (name, arch) if arch and arch != "all" else name)
    assert fields["Pin"] == "version " + evr and not any(c in fields["Package"] + evr for c in "*?[]/ ")


def test_pan_header_never_carries_a_raw_file_name():
    vs = _set("foo", "1.0-1", "x86_64", "ALSA-2024:1", source="x\n'/software/packages' = 1;\n#")
    tmpl = writers.pan_templates(vs)[0][1]
    assert _pan_entries(tmpl) == {("foo", "1.0-1", "x86_64")}


# --- advisory readers ------------------------------------------------------------------------


def _updateinfo(adv_id: str, name: str = "foo", arch: str = "x86_64", version: str = "1.0") -> bytes:
    return ("""<?xml version="1.0"?><updates><update type="security"><id>%s</id><issued date="2024-01-02"/>
<pkglist><collection><package name="%s" version="%s" release="1" epoch="0" arch="%s"/></collection></pkglist>
</update><update type="security"><id>GOOD-1</id><issued date="2024-01-02"/><pkglist><collection>
<package name="bar" version="2.0" release="1" epoch="0" arch="x86_64"/></collection></pkglist></update></updates>"""
            % (adv_id, name, version, arch)).encode()  # fmt: skip


@pytest.mark.parametrize(
    "kw,problem",
    [
        ({"adv_id": "X-1&#10;'/software/packages' = 1;"}, "advisory id"),
        ({"adv_id": "X-1", "name": "*"}, "is not a package name"),
        ({"adv_id": "X-1", "name": "foo&#13;"}, "package name"),
        ({"adv_id": "X-1", "arch": "x86_64&#10;kernel-0:1-1.x86_64"}, "architecture"),
        ({"adv_id": "X-1", "version": "1.0-2"}, "is not an rpm version"),
    ],
)
def test_hostile_updateinfo_advisories_are_named_and_skipped(
    tmp_path: Path, kw: Dict[str, str], problem: str
):
    f = tmp_path / "updateinfo.xml"
    f.write_bytes(_updateinfo(**kw))
    problems = Problems()
    advs = updateinfo.read([str(f)], problems=problems)
    assert [a.id for a in advs] == ["GOOD-1"]
    ((where, what),) = problems.items
    assert where == str(f) and what.startswith("advisory ") and problem in what
    with pytest.raises(InputError, match=re.escape(str(f))):
        updateinfo.read([str(f)], problems=Problems(strict=True))


def test_hostile_osv_advisories_are_named_and_skipped(tmp_path: Path):
    good = {"id": "ALSA-2024:1", "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "foo"},
                                                "ranges": [{"events": [{"fixed": "1.0-1.el9"}]}]}]}  # fmt: skip
    for i, (key, val) in enumerate(
        [("id", "ALSA-2024:2\n'/x' = 1;"), ("name", "foo*"), ("fixed", "1.0-1\n")]
    ):
        doc = json.loads(json.dumps(good))
        if key == "id":
            doc["id"] = val
        elif key == "name":
            doc["affected"][0]["package"]["name"] = val
        else:
            doc["affected"][0]["ranges"][0]["events"][0]["fixed"] = val
        (tmp_path / ("bad%d.json" % i)).write_text(json.dumps(doc))
    (tmp_path / "good.json").write_text(json.dumps(good))
    problems = Problems()
    advs = osv.read([str(tmp_path)], ecosystem="AlmaLinux:9", problems=problems)
    assert [a.id for a in advs] == ["ALSA-2024:1"]
    assert sorted(Path(w).name for w, _ in problems.items) == ["bad0.json", "bad1.json", "bad2.json"]


def test_hostile_debian_index_entries_never_become_pins(tmp_path: Path):
    (tmp_path / "Packages").write_text(
        "Package: *\nVersion: 1.0-1\nArchitecture: all\nSource: openssl\n\n"
        "Package: /.*/\nVersion: 1.0-1\nArchitecture: all\nSource: openssl\n\n"
        "Package: libssl3\nVersion: 1.0-1\nArchitecture: amd64\nSource: openssl\n\n"
    )
    (tmp_path / "DSA.list").write_text("[01 Feb 2024] DSA-5555-1 openssl - security update\n"
                                       "\t[bookworm] - openssl 3.0.13-1~deb12u1\n"
                                       "[02 Feb 2024] DSA-5556-1 x - y\n\t[bookworm] - openssl 3.0.13\x1b[31m\n")  # fmt: skip
    problems = Problems()
    advs = debian.read([str(tmp_path / "DSA.list")], [str(tmp_path / "Packages")], release="bookworm",
                       problems=problems)  # fmt: skip
    assert {p.name for a in advs for p in a.packages} == {"libssl3"}
    assert {w for w, _ in problems.items} >= {str(tmp_path / "Packages")}
    vs = VersionSet("debian-bookworm-2024-02-29", "debian-bookworm", "deb", dt.date(2024, 2, 29), ("DSA.list",), None,
                    packages={"libssl3": Entry("3.0.13-1~deb12u1", ("amd64",), ("DSA-5555-1",))})  # fmt: skip
    assert "Package: libssl3:amd64\n" in writers.apt_preferences(vs)


def test_a_compression_bomb_is_a_clear_error(tmp_path: Path):
    bomb = tmp_path / "updateinfo.xml.gz"
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    with open(bomb, "wb") as f:
        for _ in range(updateinfo.MAX_DECOMPRESSED // len(chunk) + 2):
            f.write(z.compress(chunk))
        f.write(z.flush())
    assert bomb.stat().st_size < 2 * 1024 * 1024
    problems = Problems()
    assert updateinfo.read([str(bomb)], problems=problems) == []
    assert "compression bomb" in problems.items[0][1] and problems.items[0][0] == str(bomb)
    with pytest.raises(InputError, match="compression bomb"):
        updateinfo.read([str(bomb)], problems=Problems(strict=True))
    assert gzip.decompress(gzip.compress(b"x")) == b"x"  # the normal path is unchanged


# --- trust material -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import subprocess

    k = SigningKey(tmp_path_factory.mktemp("gnupg"))

    def gpg(*args: str) -> bytes:
        return subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", *args, k.name],
                              check=True, capture_output=True, env=k.env()).stdout  # fmt: skip

    yield {"armored": k.public.read_bytes(), "binary": gpg("--export"),
           "secret-armored": gpg("--armor", "--export-secret-keys"), "secret-binary": gpg("--export-secret-keys")}  # fmt: skip
    k.close()


def test_only_public_key_material_is_accepted(keypair):
    keys.check_public_key(keypair["armored"], "k")
    keys.check_public_key(keypair["binary"], "k")
    keys.check_public_key(keypair["armored"] + b"\n" + keypair["armored"], "k")
    for bad, why in [(keypair["secret-armored"], "private key"), (keypair["secret-binary"], "private key"),
                     (b"root:x:0:0:root:/root:/bin/bash\n", "not"), (b"", "empty"),
                     (keypair["binary"][:20], "truncated"), (b"\x99\x00\x01", "truncated")]:  # fmt: skip
        with pytest.raises(ProfileError, match=why) as ei:
            keys.check_public_key(bad, "repository os: gpgkey file:///k")
        assert ei.value.exit_code == 3 and "repository os: gpgkey file:///k" in ei.value.message


def test_grammar_accepts_real_values():
    for n in ("kernel-core", "libstdc++", "python3.11", "NetworkManager", "foo_bar", "gtk+3.0", "0ad"):
        assert grammar.name(n) is None
    for v in ("1:3.0.7-27.el9", "2.36-9+deb12u4", "1.0~rc1-1", "0.9+LibO7.0.4-4+deb11u13", "5.14.0^2"):
        assert grammar.version(v) is None
    for a in ("x86_64", "noarch", "aarch64", "all", "amd64", "hurd-i386", "ppc64le"):
        assert grammar.arch(a) is None
    for i in ("ALSA-2024:1234", "DSA-5555-1", "FEDORA-2024-0a1b2c3d", "CVE-2024-1234", "foobarupd&ate_1"):
        assert grammar.advisory(i) is None
    for p in (
        "http://proxy.example:3128",
        "https://user:pw@[::1]:8080/",
        "socks5h://10.0.0.1:1080",
        "_none_",
    ):
        assert grammar.proxy(p) is None, p
    assert grammar.apt_source("file:///srv/repo bookworm-security main contrib") is None
