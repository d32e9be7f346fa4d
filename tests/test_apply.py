"""apply: transaction failures, repository files, state and history, the JSON contract, progress."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from spma.errors import TransactionError
from tests.builders.rpmrepo import make_repo, parse
from tests.helpers import REPO_ROOT, SPMA, Host, profile_tree

pytestmark = pytest.mark.dnf
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")


@pytest.fixture(scope="module")
def clash_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    shared = "/usr/share/spma-test/shared/clash.txt"
    pkgs = [parse("clasha-1.0-1"), parse("clashb-1.0-1"), parse("calm-1.0-1")]
    pkgs[0] = pkgs[0].__class__(**{**pkgs[0].__dict__, "files": (shared,)})
    pkgs[1] = pkgs[1].__class__(**{**pkgs[1].__dict__, "files": (shared,)})
    return str(make_repo(tmp_path_factory.mktemp("clash") / "repo", pkgs))


def test_rpm_test_transaction_failure_is_exit_9_and_changes_nothing(host: Host, clash_repo):
    host.apply(profile_tree({"calm": None}, {"c": clash_repo}))
    before = host.installed()
    with pytest.raises(TransactionError) as ei:
        host.apply(profile_tree({"calm": None, "clasha": None, "clashb": None}, {"c": clash_repo}))
    assert ei.value.exit_code == 9
    assert "nothing was changed" in str(ei.value) and "conflicts" in str(ei.value)
    assert host.installed() == before
    st = json.loads((host.root / "var/lib/spma/state.json").read_text())
    assert st["result"] == "failed" and st["format"] == "spma-state/1"
    hist = sorted((host.root / "var/lib/spma/history").iterdir())
    assert json.loads(hist[-1].read_text())["result"] == "failed"
    # the lock is free again and the next run converges
    host.apply(profile_tree({"calm": None, "clasha": None}, {"c": clash_repo}))
    assert host.installed() == ["calm-1.0-1.noarch", "clasha-1.0-1.noarch"]


def test_repo_files_written_and_foreign_ones_removed(host: Host, repos):
    d = host.root / "etc/yum.repos.d"
    d.mkdir(parents=True)
    (d / "vendor.repo").write_text("[vendor]\nbaseurl=http://example.org/\n")
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]}, userrepos=True)
    prof["software"]["repositories"][0]["excludepkgs"] = ["nginx*"]
    host.apply(prof)
    assert sorted(os.listdir(d)) == ["os.repo", "vendor.repo"]
    text = (d / "os.repo").read_text()
    assert "[os]" in text and "baseurl=file://%s" % repos["snap2"] in text and "excludepkgs=nginx*" in text
    assert "gpgcheck=0" in text
    host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}, userrepos=False))
    assert sorted(os.listdir(d)) == ["os.repo", "vendor.repo.disabled"]


def test_per_repository_include_and_exclude(host: Host, repos):
    prof = profile_tree({"bar": None}, {"old": repos["snap1"], "new": repos["snap2"]})
    prof["software"]["repositories"][1]["excludepkgs"] = ["foo"]
    res = host.plan(prof)
    # foo-2.0 is hidden, so bar can only be the one that works with foo 1.1 from the old snapshot
    got = {a["name"]: a["to"] for a in res.plan["actions"]}
    assert got == {"bar": "1.0-1", "foo": "1.1-1"}
    prof = profile_tree({"bar": None}, {"new": repos["snap2"]})
    prof["software"]["repositories"][0]["includepkgs"] = ["bar", "foo"]
    assert {a["name"] for a in host.plan(prof).plan["actions"]} == {"bar", "foo"}
    prof = profile_tree({"bar": None, "app": None}, {"new": repos["snap2"]})
    prof["software"]["repositories"][0]["includepkgs"] = ["bar", "foo"]
    with pytest.raises(Exception, match="app: excluded"):
        host.plan(prof)


def test_history_and_status(host: Host, repos):
    host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}))
    host.apply(profile_tree({"bar": None}, {"os": repos["snap2"]}))  # no changes: no history entry
    host.apply(profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]}))
    h = host.cli("history")
    lines = h.stdout.splitlines()
    assert h.returncode == 0 and lines[0].split() == ["ID", "Time", "(UTC)", "Mode", "Result", "Changes"]
    assert [ln.split()[3:] for ln in lines[1:]] == [
        ["live", "applied", "2", "install"],  # bar and its dependency foo
        ["live", "applied", "2", "install"],  # app and lib
    ]
    st = json.loads(host.cli("status", "--format", "json").stdout)
    assert st["last_run"]["result"] == "applied" and st["last_run"]["summary"]["install"] == 2
    text = host.cli("status").stdout
    assert text.startswith("Last run: ") and "applied (dnf backend, live mode), 2 changes" in text


def test_plan_json_envelope_contract(host: Host, repos):
    """spma-plan/1 is a published format: its keys and types only grow, never change."""
    host.apply(profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]}))
    p = host.cli(
        "plan",
        "--format",
        "json",
        profile=profile_tree({"bar": None, "foo": "1.1-1"}, {"os": repos["snap2"]}),
    )
    env = json.loads(p.stdout)
    assert env["format"] == "spma-plan/1"
    assert set(env) >= {
        "format",
        "backend",
        "root",
        "mode",
        "inputs",
        "actions",
        "summary",
        "reboot_required",
    }
    assert env["backend"] == "dnf" and env["mode"] == "live" and env["root"] == str(host.root)
    assert set(env["inputs"]) >= {"profile", "installed", "repositories", "options"}
    for fp in [env["inputs"]["profile"], env["inputs"]["installed"]] + list(
        env["inputs"]["repositories"].values()
    ):
        assert fp.startswith("sha256:") and len(fp) == len("sha256:") + 64
    keys = {
        "action",
        "name",
        "arch",
        "from",
        "to",
        "reason",
        "because",
        "deferred",
        "defer_reason",
        "reboot",
        "repository",
        "size",
        "installsize",
    }
    for a in env["actions"]:
        assert set(a) == keys
        assert a["action"] in ("install", "upgrade", "downgrade", "reinstall", "remove", "obsolete")
        if a["action"] != "remove":  # where it comes from and how big it is, as dnf shows
            assert a["repository"] and a["size"] > 0 and a["installsize"] >= 0
        assert a["reason"] in (
            "declared",
            "errata",
            "dependency",
            "sync",
            "unmanaged",
            "obsoleted",
            "kernel",
        )
        assert isinstance(a["because"], str) and a["because"]
        assert a["deferred"] is False and a["defer_reason"] is None
    assert env["actions"] == sorted(env["actions"], key=lambda a: (a["name"], a["arch"]))
    assert env["summary"] == {"install": 0, "upgrade": 0, "downgrade": 2, "reinstall": 0, "obsolete": 0,
                              "remove": 2, "total": 4, "deferred": 0}  # fmt: skip
    # deterministic: the same inputs give byte-identical output
    again = host.cli("plan", "--format", "json", str(host.base / ("profile-%d.json" % host._n)))
    assert again.stdout == p.stdout


@pytest.fixture
def http_repo(repos):
    """snap2 served over HTTP on loopback, so dnf really downloads."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=repos["snap2"])
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_progress_shown_on_a_terminal(host: Host, http_repo, tmp_path: Path):
    prof = host.write(profile_tree({"bar": None, "app": None}, {"os": http_repo}))
    cmd = " ".join(
        shlex.quote(x)
        for x in SPMA + ["apply", "-y", str(prof), "--root", str(host.root), "--running-kernel", ""]
    )
    res = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stdout
    assert "download" in res.stdout and "4/4" in res.stdout
    assert "transaction" in res.stdout
    # and none when not on a terminal
    p = host.cli("apply", profile=profile_tree({"bar": None}, {"os": http_repo}))
    assert p.returncode == 0, p.stderr
    assert "download" not in p.stderr and "transaction " not in p.stderr
