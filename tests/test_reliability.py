"""Reliability: killed runs, corrupt state, racing runs, a full disk, hostile profiles.

Every test runs the real `spma` command against real dnf/rpm in a sandbox root.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spma.errors import ProfileError
from spma.profile import parse_profile
from spma.state import run_lock
from tests.builders.rpmrepo import Rpm, make_repo, parse
from tests.helpers import REPO_ROOT, SPMA, Host, profile_tree, to_pan_xml

pytestmark = pytest.mark.dnf
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")

MARKER = "/spma-in-post"  # written inside the root by the slow package's %post


@pytest.fixture(scope="module")
def slow_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    lua = 'local f = io.open("%s", "w"); f:write("x"); f:close(); posix.sleep(20)' % MARKER
    pkgs = [
        parse("alpha-1.0-1"),
        Rpm("slowpost", "1.0", requires=("alpha",), post_lua=lua),
        parse("omega-1.0-1"),
    ]
    return str(make_repo(tmp_path_factory.mktemp("slow") / "repo", pkgs))


def _spawn(host: Host, prof_path: Path, *extra: str) -> subprocess.Popen:
    argv = SPMA + ["apply", str(prof_path), "--root", str(host.root), "--running-kernel", "", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))  # fmt: skip


def _wait_for(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _state_files_valid(host: Host) -> None:
    sdir = host.root / "var/lib/spma"
    for path in [sdir / "state.json"] + list((sdir / "history").glob("*.json")):
        if path.exists():
            json.loads(path.read_text())  # a half-written file would not parse
    assert not list(sdir.glob(".state.json.*")), "a temporary state file was left behind"


def _lock_free(host: Host) -> None:
    with run_lock(str(host.root), timeout=0):
        pass


def test_kill_9_during_the_rpm_transaction_then_converge(host: Host, slow_repo):
    prof = profile_tree({"slowpost": None, "omega": None}, {"s": slow_repo})
    path = host.write(prof)
    proc = _spawn(host, path)
    _wait_for(lambda: (host.root / MARKER.lstrip("/")).exists())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the kernel released the flock; every state file that exists is whole JSON
    _lock_free(host)
    _state_files_valid(host)
    partial = host.installed()
    assert "alpha-1.0-1.noarch" in partial  # rpm got as far as the scriptlet of slowpost
    # the next run finishes the job (a rerun of slowpost's %post is fine: it only sleeps)
    (host.root / MARKER.lstrip("/")).unlink()
    fast = profile_tree({"slowpost": None, "omega": None}, {"s": slow_repo})
    res = subprocess.run(SPMA + ["apply", str(host.write(fast)), "--root", str(host.root), "--running-kernel", ""],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert host.installed() == ["alpha-1.0-1.noarch", "omega-1.0-1.noarch", "slowpost-1.0-1.noarch"]
    verify = subprocess.run(["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-Va", "--nomtime"],
                            capture_output=True, text=True, env=dict(os.environ, HOME=str(host.base)))  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert host.plan(fast).changes == 0


@pytest.fixture
def slow_http(repos):
    """snap2 over HTTP on loopback; .rpm downloads stall until released."""
    release = threading.Event()
    started = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.endswith(".rpm"):
                started.set()
                release.wait(30)
            super().do_GET()

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=repos["snap2"])
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/" % srv.server_address[1], started, release
    release.set()
    srv.shutdown()
    srv.server_close()


def test_kill_9_while_downloading_changes_nothing(host: Host, slow_http):
    url, started, release = slow_http
    prof = profile_tree({"bar": None, "app": None}, {"os": url})
    proc = _spawn(host, host.write(prof))
    assert started.wait(60), "the download never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    release.set()
    _lock_free(host)
    _state_files_valid(host)
    assert host.installed() == []
    res = host.apply(prof)
    assert res.applied and host.installed() == ["app-1.0-1.noarch", "bar-2.0-1.noarch", "foo-2.0-1.noarch",
                                                 "lib-2.0-1.noarch"]  # fmt: skip
    assert host.plan(prof).changes == 0


def test_corrupt_or_truncated_state_is_set_aside(host: Host, repos):
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    assert host.cli("apply", "--agent", profile=prof).returncode == 0
    state = host.root / "var/lib/spma/state.json"
    for garbage in ('{"result": "applied", "inputs": {"pro', "\x00\x01binary", "[1, 2, 3]"):
        state.write_text(garbage)
        p = host.cli("apply", "--agent", profile=prof)
        assert p.returncode == 0, p.stderr
        assert "unreadable" in p.stderr and "moved to" in p.stderr
        assert json.loads(state.read_text())["result"] == "applied"
    assert len(list(state.parent.glob("state.json.corrupt-*"))) >= 1
    st = host.cli("status", "--format", "json")
    assert st.returncode == 0 and json.loads(st.stdout)["last_run"]["result"] == "applied"


def test_two_concurrent_applies_never_both_change_the_root(host: Host, slow_repo):
    prof = host.write(profile_tree({"slowpost": None}, {"s": slow_repo}))
    first = _spawn(host, prof)
    _wait_for(lambda: (host.root / MARKER.lstrip("/")).exists())
    second = _spawn(host, prof, "--lock-timeout", "1")
    out2 = second.communicate(timeout=60)
    assert second.returncode == 6, out2
    assert "another spma run holds" in out2[1]
    os.kill(first.pid, signal.SIGKILL)
    first.wait()


def test_full_disk_in_the_cache_fails_cleanly(host: Host, tmp_path: Path):
    repo = str(make_repo(tmp_path / "big", [Rpm("bigpkg", "1.0", payload=3_000_000), parse("small-1.0-1")]))
    # served over HTTP: dnf uses file:// packages in place, only remote ones land in the cache
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=repo))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        _full_disk(host, tmp_path, "http://127.0.0.1:%d/" % srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a: object) -> None:
        pass


def _full_disk(host: Host, tmp_path: Path, url: str) -> None:
    prof = profile_tree({"bigpkg": None}, {"b": url})
    # populate the metadata cache first, then put the cache on a 1 MiB filesystem
    host.plan(prof)
    cache = host.root / "var/lib/spma/cache"
    saved = tmp_path / "cache-saved"
    os.rename(cache, saved)
    cache.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(cache)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % mount.stderr.decode().strip())
    try:
        subprocess.run(["cp", "-a", str(saved) + "/.", str(cache)], check=True)
        p = host.cli("apply", profile=prof)
        assert p.returncode in (5, 9), p.stderr
        assert "Traceback" not in p.stderr and "spma: error:" in p.stderr and "spma: hint:" in p.stderr
        assert host.installed() == []
        assert not (host.root / "etc/yum.repos.d/b.repo").exists()
    finally:
        subprocess.run(["umount", str(cache)], capture_output=True)


# --- fuzzing: whatever the profile, the answer is a Profile or a ProfileError (exit 3)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
              st.sampled_from(["yes", "no", "_", "_31_2e0", "kernel_2a", "_zz", "_", "x" * 5000])),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(["name", "url", "protocols", "packages", "arch",
                                                                "_", "gpgcheck", "priority", "spma", "x"]) | st.text(max_size=8),
                                               children, max_size=4)),
    max_leaves=25,
)  # fmt: skip


@given(
    packages=json_values,
    repos=json_values,
    spma=json_values,
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_profiles_never_raise_anything_but_profile_errors(packages, repos, spma):
    tree = {"software": {"packages": packages, "repositories": repos, "components": {"spma": spma}}}
    for data, name in ((json.dumps(tree).encode(), "fuzz.json"), (to_pan_xml(tree).encode(), "fuzz.xml")):
        try:
            parse_profile(data, source=name)
        except ProfileError as e:
            assert str(e).startswith(name + ": ")


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_fuzzed_bytes_never_raise_anything_but_profile_errors(data):
    for prefix in (b"", b"<", b"{", b'<?xml version="1.0"?><nlist name="p">'):
        try:
            parse_profile(prefix + data, source="bytes")
        except ProfileError:
            pass


def test_entity_tricks_and_deep_nesting_through_the_cli(host: Host, tmp_path: Path):
    cases = {
        "billion.xml": '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">'
                       '<!ENTITY c "&b;&b;&b;&b;">]><nlist name="profile"><string name="x">&c;</string></nlist>',
        "xxe.xml": '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY x SYSTEM "file:///etc/shadow">]>'
                   '<nlist name="profile"><string name="x">&x;</string></nlist>',
        "deep.json": '{"software": ' + "[" * 100000 + "]" * 100000 + "}",
        "huge-name.json": json.dumps(profile_tree({"a" * 100000: None}, {"os": "/r"})),
        "nul.json": '{"software": {"packages": {"a\\u0000b": {}}}}',
    }  # fmt: skip
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        p = host.cli("plan", str(path))
        assert p.returncode == 3, (name, p.returncode, p.stderr[-500:])
        assert str(path) in p.stderr and "Traceback" not in p.stderr, name
        assert "spma: error:" in p.stderr, name
