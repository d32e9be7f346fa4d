"""The errata fast paths give what the plain computation gives: the sweep's carried state (names
in order, the kernel family, the advisory ids) against compiling each month from scratch, the
writers' caches against fresh checks, the JSON lines against json.dumps, and generate leaves the
garbage collector as it found it."""

from __future__ import annotations

import datetime as dt
import gc
import json
from pathlib import Path

import pytest
from spma.errata import compile as comp
from spma.errata import osv, writers
from spma.errata.model import Advisory, AdvisoryPackage, Entry, VersionSet
from spma.errata.versionset import _json_line, dumps, loads, to_json

from spma.errors import AdvisoryInputError, VersionSetError
from tests.helpers import CORPUS

OSV_TAR = CORPUS / "almalinux-osv" / "almalinux-8-9-osv-advisories.tar.xz"


def _adv(aid: str, day: str, *pkgs: tuple) -> Advisory:
    return Advisory(id=aid, type="security", severity="important", issued=dt.date.fromisoformat(day),
                    packages=tuple(AdvisoryPackage(n, 0, v, r, a) for n, v, r, a in pkgs))  # fmt: skip


# the kernel family moving together, apart (kernel-tools ahead), together again and apart again;
# advisories of the kernel family only (ALSA-2, ALSA-3, ALSA-5); a package fixed twice; a source
# package; a package no kernel advisory names
KERNELS = [
    _adv("ALSA-1", "2024-01-10", ("kernel", "5.14.0", "1", "x86_64"), ("kernel-tools", "5.14.0", "1", "x86_64"),
         ("openssl", "3.0.7", "1", "x86_64"), ("openssl", "3.0.7", "1", "src")),
    _adv("ALSA-2", "2024-02-10", ("kernel-tools", "5.14.0", "2", "x86_64")),
    _adv("ALSA-6", "2024-02-11", ("bash", "5.1", "1", None)),
    _adv("ALSA-3", "2024-03-10", ("kernel", "5.14.0", "2", "x86_64"), ("kernel-core", "5.14.0", "2", "x86_64")),
    _adv("ALSA-4", "2024-04-10", ("openssl", "3.0.7", "2", "x86_64"), ("openssl", "3.0.7", "2", "aarch64")),
    _adv("ALSA-5", "2024-06-10", ("kernel-tools", "5.14.0", "3", "x86_64")),
    _adv("ALSA-7", "2024-06-11", ("zlib", "1.2", "1", "x86_64")),
]  # fmt: skip


def _from_scratch(advs, cutoffs, **kw):  # type: ignore[no-untyped-def]
    return [comp.compile_sets(advs, [c], **kw)[0] for c in cutoffs]


@pytest.mark.parametrize(
    "filters", [None, comp.Filters(exclude=["kernel-core"]), comp.Filters(include=["k*"])]
)
def test_sweep_equals_each_month_compiled_from_scratch(filters):
    pytest.importorskip("rpm")
    cutoffs = comp.month_ends("2023-12", "2024-07")
    kw = dict(family="rpm", os_id="el9", sources=["x"], filters=filters)
    swept = comp.compile_sets(KERNELS, cutoffs, **kw)
    assert swept == _from_scratch(KERNELS, cutoffs, **kw)
    # and in the same order: the writers rely on it only for speed, a reader sees it
    for a, b in zip(swept, _from_scratch(KERNELS, cutoffs, **kw)):
        assert list(a.packages) == list(b.packages) and list(a.advisories) == list(b.advisories)
    if filters is None:
        feb, mar, jun = swept[2], swept[3], swept[6]
        assert "kernel-tools" in feb.packages and "ALSA-2" in feb.advisories  # apart: its own entry
        # together again: kernel-tools is the kernel's version, and ALSA-2 names no entry of the set
        assert "kernel-tools" not in mar.packages and mar.kernel == "5.14.0-2"
        assert "ALSA-2" not in mar.advisories and "ALSA-3" in mar.advisories
        assert jun.packages["kernel-tools"].advisories == ("ALSA-1", "ALSA-2", "ALSA-5")
        assert {"ALSA-2", "ALSA-5"} <= set(jun.advisories)


def test_sweep_equals_from_scratch_for_debian_versions():
    pytest.importorskip("apt_pkg")
    advs = [_adv("DSA-1", "2024-01-02", ("linux", "6.1.1", "", None), ("openssl", "3.0.1", "", None)),
            _adv("DSA-2", "2024-02-02", ("linux", "6.1.10", "", None)),
            _adv("DSA-3", "2024-02-20", ("linux", "6.1.9", "", None), ("curl", "7.88.1-10+deb12u1", "", None))]  # fmt: skip
    cutoffs = comp.month_ends("2024-01", "2024-03")
    kw = dict(family="deb", os_id="debian-bookworm", sources=["x"])
    assert comp.compile_sets(advs, cutoffs, **kw) == _from_scratch(advs, cutoffs, **kw)


@pytest.mark.skipif(not OSV_TAR.exists(), reason="shared corpus not present")
def test_sweep_equals_from_scratch_on_real_advisories():
    pytest.importorskip("rpm")
    alma9 = osv.read([str(OSV_TAR)], ecosystem="AlmaLinux:9")
    cutoffs = comp.month_ends("2022-05", "2026-08")
    swept = comp.compile_sets(alma9, cutoffs, family="rpm", os_id="a", sources=[])
    some = cutoffs[::7] + cutoffs[-1:]
    assert [vs for vs in swept if vs.cutoff in some] == _from_scratch(alma9, some, family="rpm", os_id="a",
                                                                       sources=[])  # fmt: skip


def _vs(packages: dict, vid: str = "el9-2024-01-31") -> VersionSet:
    return VersionSet(id=vid, os="el9", family="rpm", cutoff=dt.date(2024, 1, 31), sources=("x",), kernel=None,
                      packages=packages)  # fmt: skip


def test_the_writers_cache_never_lets_a_refused_value_through():
    good = Entry("1.0-1", ("x86_64",), ("ALSA-2024:1",))
    writers.check_set(_vs({"foo": good}))
    # the same entry object under a name that is not a package name
    with pytest.raises(VersionSetError, match="bad name"):
        writers.check_set(_vs({"bad name": good}))
    # the name checked before, now with an entry that holds a newline
    with pytest.raises(VersionSetError, match="foo"):
        writers.check_set(_vs({"foo": Entry("1.0-1\n'/x' = 1;", ("x86_64",), ("ALSA-2024:1",))}))
    # an equal entry that is another object is checked again, and passes
    again = Entry("1.0-1", ("x86_64",), ("ALSA-2024:1",))
    assert writers.check_set(_vs({"foo": again})) == writers.check_set(_vs({"foo": good}))
    # one entry object under two names: each line names its own package
    json_lines, pan = writers.check_set(_vs({"bar": good, "foo": good}))
    assert json_lines[0].startswith('  "bar": ') and json_lines[1].startswith('  "foo": ')
    assert '"bar"' in pan[0] and '"foo"' in pan[1]


@pytest.mark.parametrize(
    "name,entry",
    [
        ("foo", Entry("1:2.3-4.el9", ("aarch64", "x86_64"), ("ALSA-2024:1", "ALSA-2024:2"), True)),
        ("foo", Entry("1.0", (), (), False)),
        ("libstdc++", Entry("2.36-9+deb12u1~x", ("all",), ("DSA-5555-1",))),
        # dumps does not check (the writers do): json's own escapes for what a check refuses
        ('a"b\\c\u00e9\n', Entry('1"\u2603', ("x\t",), ("A\x00",), True)),
    ],
)
def test_json_lines_are_json_dumps_bytes(name, entry):
    doc = {"advisories": list(entry.advisories), "arch": list(entry.arches), "evr": entry.evr}
    if entry.reboot_suggested:
        doc["reboot_suggested"] = True
    assert _json_line(name, entry) == "  %s: %s" % (json.dumps(name), json.dumps(doc, sort_keys=True))
    vs = _vs({name: entry, "zzz": Entry("1-1", (), ())})
    assert json.loads(dumps(vs)) == to_json(vs)
    if name == "foo":
        assert loads(dumps(vs).encode(), "x")[0].packages == vs.packages


def test_dumps_without_packages_or_advisories_is_json():
    vs = _vs({})
    assert json.loads(dumps(vs)) == to_json(vs)
    assert dumps(vs).endswith(',\n "packages": {}\n}\n')


def test_generate_leaves_the_collector_as_it_found_it(tmp_path: Path):
    from click.testing import CliRunner
    from spma.errata.cli import errata

    src = tmp_path / "osv"
    src.mkdir()
    (src / "ALSA-2024:1.json").write_text(json.dumps({
        "id": "ALSA-2024:1", "published": "2024-01-10T00:00:00Z", "summary": "Important: foo",
        "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "foo"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2.el9"}]}]}],
    }))  # fmt: skip

    def generate(out: str, *when: str) -> object:
        opts = ["--source", "osv", str(src), "--ecosystem", "AlmaLinux:9", "--out", str(tmp_path / out)]
        res = CliRunner().invoke(errata, ["generate"] + opts + list(when))
        return res.exception or res.exit_code

    # spma plan/apply run in this process before may have frozen their imports for good
    caller_froze = gc.get_freeze_count()
    gc.unfreeze()
    try:
        assert generate("out", "--monthly", "2024-01", "2024-02") == 0
        assert gc.get_freeze_count() == 0 and gc.isenabled()
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["almalinux9-2024-01-31.json",
                                                                         "almalinux9-2024-02-29.json"]  # fmt: skip
        # an empty result fails (exit 3 through spma's CLI), and unfreezes too
        assert isinstance(generate("none", "--cutoff", "2023-01-31"), AdvisoryInputError)
        assert gc.get_freeze_count() == 0
        # a caller's own frozen objects stay frozen
        gc.freeze()
        assert generate("again", "--cutoff", "2024-01-31") == 0
        assert gc.get_freeze_count() > 0 and gc.isenabled()  # (less the frozen objects freed since)
    finally:
        if caller_froze:
            gc.freeze()
        else:
            gc.unfreeze()
