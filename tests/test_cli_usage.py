"""The command line as a sysadmin meets it: usage errors are exit 3 (never click's 2, which is
`plan --detailed-exitcode`), every command's --help has examples and the exit codes, profile
mistakes that change behaviour are refused with a suggestion, --format json fails as JSON."""

from __future__ import annotations

import json
import os
import subprocess
from typing import List

import pytest

from tests.helpers import REPO_ROOT, SPMA, Host, profile_tree

COMMANDS = ["plan", "apply", "boot", "status", "history", "errata", "errata generate", "errata show",
            "errata diff"]  # fmt: skip


def spma(*args: str, input: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(list(SPMA) + list(args), capture_output=True, text=True, env=env, input=input,
                          timeout=120)  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        [],  # bare spma
        ["frobnicate"],  # unknown command
        ["plan"],  # missing argument
        ["plan", "x.json", "--bogus"],  # unknown option
        ["plan", "x.json", "--backend", "zypper"],  # bad choice
        ["apply", "x.json", "--lock-timeout", "soon"],  # bad value
        ["plan", "x.json", "--root"],  # option without its value
        ["status", "--format", "yaml"],
        ["history", "--nope"],
        ["errata", "generate"],
        ["errata", "show"],
    ],
)
def test_usage_errors_exit_3_never_2(argv: List[str]):
    p = spma(*argv)
    assert p.returncode == 3, (argv, p.returncode, p.stderr)
    assert p.stderr.startswith("spma: error: "), p.stderr
    assert "spma: hint: " in p.stderr and "Traceback" not in p.stderr


def test_usage_error_with_format_json_is_an_error_envelope():
    p = spma("plan", "x.json", "--format", "json", "--bogus")
    assert p.returncode == 3
    doc = json.loads(p.stdout)
    assert doc["format"] == "spma-error/1" and doc["exit"] == 3 and doc["phase"] == "usage"
    assert "--bogus" in doc["error"] and doc["hint"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_examples_and_exit_codes(command: str):
    p = spma(*(command.split() + ["--help"]))
    assert p.returncode == 0, p.stderr
    assert "Examples:" in p.stdout
    assert "Exit codes:" in p.stdout or command.startswith("errata")
    if not command.startswith("errata"):
        for code in (
            "0  ",
            "2  plan --detailed-exitcode",
            "3  invalid input",
            "7  refused by a safety rule",
        ):
            assert code in p.stdout, (command, code)
    assert "spma " + command.split()[0] in p.stdout  # the examples are runnable command lines


def test_help_and_version_exit_0():
    assert spma("--help").returncode == 0
    for flag in ("--version", "-V"):
        p = spma(flag)
        assert p.returncode == 0 and "spma" in p.stdout


def test_debug_flag_goes_through_click(tmp_path):
    """--debug anywhere a command accepts it shows the traceback; a file named --debug is not
    mistaken for the flag (the old sys.argv check was)."""
    missing = str(tmp_path / "missing.json")
    p = spma("plan", missing, "--debug")
    assert p.returncode == 3 and "Traceback" in p.stderr and "spma: error: " in p.stderr
    p = spma("plan", missing)
    assert p.returncode == 3 and "Traceback" not in p.stderr
    p = spma("--debug", "plan", missing)
    assert p.returncode == 3 and "Traceback" in p.stderr
    p = spma("plan", "--", "--debug")  # a profile named --debug
    assert p.returncode == 3 and "--debug: cannot read profile" in p.stderr and "Traceback" not in p.stderr


def test_input_errors_in_json_are_envelopes(tmp_path):
    missing = str(tmp_path / "missing.json")
    p = spma("plan", missing, "--format", "json")
    assert p.returncode == 3
    doc = json.loads(p.stdout)
    assert doc == {"format": "spma-error/1", "exit": 3, "phase": "profile",
                   "error": "%s: cannot read profile: No such file or directory" % missing,
                   "hint": doc["hint"]}  # fmt: skip
    bad_plan = tmp_path / "plan.json"
    bad_plan.write_text("{}")
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps(profile_tree({"bar": None}, {"os": str(tmp_path)})))
    (tmp_path / "r").mkdir(exist_ok=True)
    p = spma("apply", str(prof), "--plan", str(bad_plan), "--root", str(tmp_path / "r"), "--format", "json")
    doc = json.loads(p.stdout)
    assert p.returncode == 3 and doc["phase"] == "plan-file", doc  # a plan file is not "the profile"
    assert "spma plan" in doc["hint"]


# --- point 2: profile mistakes that change behaviour are errors, never silent --------------


def _parse(**spma_fields):  # type: ignore[no-untyped-def]
    from spma.profile import parse_profile

    tree = profile_tree({"bar": None}, {"os": "/srv/repo"}, **spma_fields)
    return parse_profile(json.dumps(tree).encode(), source="h.json")


@pytest.mark.parametrize(
    "field, suggestion",
    [("userpkg", "userpkgs"), ("whitelists", "whitelist"), ("max_removal", "max_removals"),
     ("exclude", "excludes"), ("userrepo", "userrepos"), ("frobnicate", None)],
)  # fmt: skip
def test_unknown_component_field_is_exit_3_with_did_you_mean(field, suggestion):
    from spma.errors import ProfileError

    with pytest.raises(ProfileError) as ei:
        _parse(**{field: "yes"})
    msg = str(ei.value)
    assert msg.startswith("h.json: /software/components/spma/%s: unknown field" % field)
    if suggestion:
        assert "did you mean %r?" % suggestion in msg
    else:
        assert "did you mean" not in msg
    assert ei.value.exit_code == 3


@pytest.mark.parametrize("field", ["filter", "usersources"])
def test_unsupported_behaviour_changing_ncm_spma_fields_are_refused(field):
    from spma.errors import ProfileError

    with pytest.raises(ProfileError, match="ncm-spma field not supported by spma"):
        _parse(**{field: "yes"})
    with pytest.raises(ProfileError, match="move these globs to /software/components/spma/excludes"):
        _parse(main_options={"exclude": "kernel*"})


def test_unused_ncm_spma_fields_warn_at_default_verbosity(tmp_path):
    """Not only at -v: the warning is on stderr of a plain run, and says what spma does."""
    prof = tmp_path / "p.json"
    tree = profile_tree({"bar": None}, {"os": str(tmp_path / "gone")}, userpkgs_retry=3, protectkernel="yes")
    prof.write_text(json.dumps(tree))
    (tmp_path / "r").mkdir()
    p = spma("plan", str(prof), "--root", str(tmp_path / "r"))
    assert p.returncode == 5  # the repository is missing; the warnings came first
    assert "/software/components/spma/userpkgs_retry" in p.stderr and "nothing is retried" in p.stderr
    assert "/software/components/spma/protectkernel" in p.stderr and "never removed" in p.stderr
    p = spma("plan", str(prof), "--root", str(tmp_path / "r"), "-q")
    assert "userpkgs_retry" not in p.stderr  # -q: errors only


@pytest.mark.dnf
def test_typo_in_userpkgs_removes_nothing(host: Host, repos):
    """The issue's case end to end: `userpkg: yes` used to be ignored and every undeclared
    package removed; now nothing happens and the message points at the field."""
    assert (
        host.cli(
            "apply", profile=profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]})
        ).returncode
        == 0
    )
    before = host.installed()
    p = host.cli("apply", profile=profile_tree({"bar": None}, {"os": repos["snap2"]}, userpkg="yes"))
    assert p.returncode == 3, p.stderr
    assert (
        "/software/components/spma/userpkg: unknown field of the spma component; did you mean 'userpkgs'?"
        in p.stderr
    )
    assert host.installed() == before


def test_a_refused_plan_is_shown_then_stated(monkeypatch, capsys):
    """When the core reports that apply would refuse the plan (a safety rule), `plan` shows the
    plan, states the refusal and exits 7; the JSON plan carries it as an spma-error/1 document."""
    from spma import cli, run
    from spma.errors import SafetyError
    from spma.plan import Inputs, Plan

    plan = Plan("dnf", "/r", "live", Inputs("sha256:p", "sha256:i", (), "sha256:o"), ())
    refusal = SafetyError("the plan removes 3 packages, more than max_removals (1)")
    monkeypatch.setattr(run, "plan", lambda *a, **k: run.Result("plan", plan, refusal=refusal))
    assert cli.main(["plan", "p.json"], standalone_mode=False) == 7
    out, err = capsys.readouterr()
    assert out.startswith("Dry-run plan for /r") and "spma: error: the plan removes 3 packages" in err
    assert cli.main(["plan", "p.json", "--format", "json"], standalone_mode=False) == 7
    out, err = capsys.readouterr()
    doc = json.loads(out)  # one document: the plan, with the refusal in it
    assert doc["refusal"]["exit"] == 7 and doc["refusal"]["phase"] == "safety"
    assert "max_removals" in err
