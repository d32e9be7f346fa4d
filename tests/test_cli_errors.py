"""Bad input and refusals through the real `spma` command: exit codes (DESIGN §7), messages that
name what is wrong, and nothing changed on the root."""

from __future__ import annotations

import json
import os
import threading

import pytest

from spma.state import run_lock
from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.dnf
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")


def snapshot(host: Host):
    repos = (
        sorted(os.listdir(host.root / "etc/yum.repos.d")) if (host.root / "etc/yum.repos.d").exists() else []
    )
    return host.installed(), repos


@pytest.fixture
def seeded(host: Host, repos) -> Host:
    p = host.cli("apply", profile=profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]}))
    assert p.returncode == 0, p.stderr
    return host


def test_malformed_json_profile_exit_3_names_path(seeded: Host):
    before = snapshot(seeded)
    bad = seeded.base / "broken.json"
    bad.write_text('{"software": {"packages": ')
    p = seeded.cli("apply", str(bad))
    assert p.returncode == 3
    assert str(bad) in p.stderr and "not valid JSON" in p.stderr
    assert "Traceback" not in p.stderr
    assert snapshot(seeded) == before


def test_wrong_type_exit_3_names_profile_path(seeded: Host, repos):
    before = snapshot(seeded)
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    prof["software"]["components"]["spma"]["userpkgs"] = 5
    p = seeded.cli("apply", profile=prof)
    assert p.returncode == 3
    assert "/software/components/spma/userpkgs" in p.stderr
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    prof["software"]["packages"]["bar"] = {"_31_2e0": "oops"}
    p = seeded.cli("plan", profile=prof)
    assert p.returncode == 3 and "/software/packages/bar/_31_2e0" in p.stderr
    assert snapshot(seeded) == before


def test_unknown_package_and_missing_pin_exit_4_all_named(seeded: Host, repos):
    before = snapshot(seeded)
    prof = profile_tree(
        {"bar": None, "nosuchpkg": None, "foo": "9.9-9", "lib": "1.0-1"}, {"os": repos["snap2"]}
    )
    p = seeded.cli("apply", profile=prof)
    assert p.returncode == 4, p.stderr
    assert "nosuchpkg: no package of that name" in p.stderr
    assert "foo: declared version 9.9-9 not found (available: 1.0-1, 1.1-1, 2.0-1)" in p.stderr
    assert "lib:" not in p.stderr
    assert snapshot(seeded) == before


def test_conflicting_declarations_exit_4(seeded: Host, repos):
    before = snapshot(seeded)
    # bar-2.0 needs foo >= 2.0: pinning both is a contradiction the solver must report
    p = seeded.cli("apply", profile=profile_tree({"bar": "2.0-1", "foo": "1.0-1"}, {"os": repos["snap2"]}))
    assert p.returncode == 4
    assert "bar-2.0-1" in p.stderr and "foo" in p.stderr
    assert snapshot(seeded) == before


def test_unreachable_repository_exit_5(seeded: Host, repos, tmp_path):
    before = snapshot(seeded)
    p = seeded.cli("apply", profile=profile_tree({"bar": None}, {"os": str(tmp_path / "gone")}))
    assert p.returncode == 5, p.stderr
    assert "repository" in p.stderr.lower() and "Traceback" not in p.stderr
    p = seeded.cli("plan", profile=profile_tree({"bar": None}, {"os": "http://127.0.0.1:9/nothing/"}))
    assert p.returncode == 5, p.stderr
    assert snapshot(seeded) == before


def test_metadata_checksum_pin(seeded: Host, repos):
    prof = profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]})
    prof["software"]["repositories"][0]["metadata_sha256"] = "0" * 64
    before = snapshot(seeded)
    p = seeded.cli("apply", profile=prof)
    assert p.returncode == 5 and "pins" in p.stderr
    assert snapshot(seeded) == before
    with open(os.path.join(repos["snap2"], "repodata/repomd.xml"), "rb") as f:
        import hashlib

        prof["software"]["repositories"][0]["metadata_sha256"] = hashlib.sha256(f.read()).hexdigest()
    assert seeded.cli("apply", profile=prof).returncode == 0


def test_empty_desired_set_exit_7(seeded: Host, repos):
    before = snapshot(seeded)
    p = seeded.cli("apply", profile=profile_tree({}, {"os": repos["snap2"]}))
    assert p.returncode == 7
    assert "declares no packages" in p.stderr
    assert snapshot(seeded) == before


def test_max_removals_exit_7(seeded: Host, repos):
    before = snapshot(seeded)
    p = seeded.cli("apply", profile=profile_tree({"bar": None}, {"os": repos["snap2"]}, max_removals=1))
    assert p.returncode == 7
    assert "removes 2 packages, more than max_removals (1): app, lib" in p.stderr
    assert snapshot(seeded) == before


def test_protected_removal_exit_7(seeded: Host, repos):
    assert (
        seeded.cli(
            "apply", profile=profile_tree({"bar": None, "tool": None}, {"os": repos["snap2"]})
        ).returncode
        == 0
    )
    before = snapshot(seeded)
    # anti conflicts with tool; tool is whitelisted, so it may not go
    p = seeded.cli(
        "apply",
        profile=profile_tree({"bar": None, "anti": None}, {"os": repos["snap2"]}, whitelist=["tool"]),
    )
    assert p.returncode == 7, p.stderr
    assert "protected packages: tool-2.0-1.noarch" in p.stderr
    assert snapshot(seeded) == before


def test_stale_plan_exit_8(seeded: Host, repos):
    prof = profile_tree({"bar": None, "foo": "1.1-1"}, {"os": repos["snap2"]})
    path = seeded.write(prof)
    out = seeded.base / "plan.json"
    p = seeded.cli("plan", str(path), "--out", str(out), "--format", "json")
    assert p.returncode == 0 and json.loads(out.read_text())["format"] == "spma-plan/1"
    assert p.stdout == out.read_text()  # the envelope printed is the one saved
    # the host changes between plan and apply
    assert seeded.cli("apply", profile=profile_tree({"bar": None}, {"os": repos["snap2"]})).returncode == 0
    before = snapshot(seeded)
    p = seeded.cli("apply", str(path), "--plan", str(out))
    assert p.returncode == 8
    assert "stale" in p.stderr and "the installed packages" in p.stderr
    assert snapshot(seeded) == before
    # a fresh plan of the same profile applies
    p = seeded.cli("plan", str(path), "--out", str(out))
    p = seeded.cli("apply", str(path), "--plan", str(out))
    assert p.returncode == 0, p.stderr
    assert "foo-1.1-1.noarch" in seeded.installed()


def test_concurrent_run_exit_6(seeded: Host, repos):
    before = snapshot(seeded)
    with run_lock(str(seeded.root), timeout=1):
        p = seeded.cli(
            "apply", "--lock-timeout", "0.5", profile=profile_tree({"bar": None}, {"os": repos["snap2"]})
        )
    assert p.returncode == 6
    assert "another spma run holds" in p.stderr and str(os.getpid()) in p.stderr
    assert snapshot(seeded) == before


def test_lock_waits_then_runs(seeded: Host, repos):
    release = threading.Event()

    def hold() -> None:
        with run_lock(str(seeded.root), timeout=1):
            release.wait(1.0)

    t = threading.Thread(target=hold)
    t.start()
    p = seeded.cli(
        "apply", "--lock-timeout", "30", profile=profile_tree({"bar": None}, {"os": repos["snap2"]})
    )
    t.join()
    assert p.returncode == 0, p.stderr


def test_detailed_exitcode_and_run_no(seeded: Host, repos):
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    assert seeded.cli("plan", "--detailed-exitcode", profile=prof).returncode == 2
    before = snapshot(seeded)
    p = seeded.cli(
        "apply", "--format", "json", profile=profile_tree({"bar": None}, {"os": repos["snap2"]}, run="no")
    )
    assert p.returncode == 0 and json.loads(p.stdout)["applied"] is False
    assert snapshot(seeded) == before
    st = seeded.cli("status", "--format", "json")
    assert json.loads(st.stdout)["last_run"]["result"] == "planned-only"
    assert seeded.cli("apply", profile=prof).returncode == 0
    assert seeded.cli("plan", "--detailed-exitcode", profile=prof).returncode == 0


def test_bad_errata_set_is_exit_3(seeded: Host, repos, tmp_path):
    bad = tmp_path / "set.json"
    bad.write_text('{"format": "spma-versionset/1", "id": "x"}')
    p = seeded.cli("plan", "--errata", str(bad), profile=profile_tree({"bar": None}, {"os": repos["snap2"]}))
    assert p.returncode == 3 and str(bad) in p.stderr and "Traceback" not in p.stderr
    p = seeded.cli(
        "plan",
        "--errata",
        str(tmp_path / "missing.json"),
        profile=profile_tree({"bar": None}, {"os": repos["snap2"]}),
    )
    assert p.returncode == 3 and "missing.json" in p.stderr


def test_every_error_says_what_was_wrong_and_what_to_do(seeded: Host, repos, tmp_path):
    """Tried as a new user would: each refusal names the problem and gives a next step."""
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    runs = [
        seeded.cli("plan", str(bad)),
        seeded.cli("plan", profile=profile_tree({"nosuch": None}, {"os": repos["snap2"]})),
        seeded.cli("plan", profile=profile_tree({"bar": None}, {"os": str(tmp_path / "gone")})),
        seeded.cli("apply", profile=profile_tree({}, {"os": repos["snap2"]})),
        seeded.cli("plan", str(tmp_path / "missing.json")),
        seeded.cli(
            "plan", "--errata", str(bad), profile=profile_tree({"bar": None}, {"os": repos["snap2"]})
        ),
    ]
    for p in runs:
        assert p.returncode in (3, 4, 5, 7), p.stderr
        lines = p.stderr.splitlines()
        assert any(line.startswith("spma: error: ") for line in lines), p.stderr
        assert any(line.startswith("spma: hint: ") and len(line) > 20 for line in lines), p.stderr
        assert "Traceback" not in p.stderr
