"""The agent: Python API, --agent mode, the no-op fast path, profiles over https with client
certificates and a local copy, package signatures."""

from __future__ import annotations

import http.server
import json
import os
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

import spma
from spma.errors import RepoError, UsageError
from tests.builders.rpmrepo import SigningKey, make_repo
from tests.conftest import SNAP2
from tests.helpers import Host, profile_tree

pytestmark = pytest.mark.dnf
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")


def test_python_api_reconcile(tmp_path: Path, repos):
    host = Host(tmp_path)
    prof = host.write(profile_tree({"bar": None}, {"os": repos["snap2"]}))
    planned = spma.reconcile(str(prof), root=str(host.root), apply=False, running_kernel="")
    assert planned.command == "plan" and planned.changes == 2 and not planned.applied
    assert host.installed() == []
    done = spma.reconcile(str(prof), root=str(host.root), running_kernel="")
    assert done.applied and [a["name"] for a in done.plan["actions"]] == ["bar", "foo"]
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    again = spma.reconcile(str(prof), root=str(host.root), agent=True, running_kernel="")
    assert again.noop and again.changes == 0
    with pytest.raises(UsageError):  # a bad argument, not a bad profile (still exit 3)
        spma.reconcile(str(prof), root=str(host.root), mode="sideways")


def test_agent_mode_logs_steps_and_takes_the_fast_path(host: Host, repos):
    prof = profile_tree({"bar": None}, {"os": repos["snap2"]})
    p = host.cli("apply", "--agent", "--splay", "0.2", profile=prof)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    steps = [line.split()[1] for line in p.stderr.splitlines() if line.startswith("level=info step=")]
    assert steps == ["step=profile", "step=splay", "step=lock", "step=backend", "step=solve", "step=safety",
                     "step=transaction", "step=repositories", "step=done"]  # fmt: skip
    p = host.cli("apply", "--agent", profile=prof)
    assert p.returncode == 0 and "step=fast-path unchanged=True" in p.stderr and "step=solve" not in p.stderr
    st = json.loads(host.cli("status", "--format", "json").stdout)["last_run"]
    assert st["result"] == "unchanged"
    # somebody changes the host behind spma's back: the fast path notices, the run repairs it
    subprocess.run(["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-e", "--nodeps", "bar"],
                   check=True, capture_output=True, env=dict(os.environ, HOME=str(host.base)))  # fmt: skip
    p = host.cli("apply", "--agent", profile=prof)
    assert "step=fast-path unchanged=False" in p.stderr and "step=transaction actions=1" in p.stderr
    assert host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    # a profile change is noticed too
    p = host.cli(
        "apply", "--agent", profile=profile_tree({"bar": None, "app": None}, {"os": repos["snap2"]})
    )
    assert "step=fast-path unchanged=False" in p.stderr and "app-1.0-1.noarch" in host.installed()


def test_agent_errors_are_one_structured_line(host: Host, repos):
    p = host.cli("apply", "--agent", profile=profile_tree({"nosuch": None}, {"os": repos["snap2"]}))
    assert p.returncode == 4 and p.stdout == ""
    errors = [line for line in p.stderr.splitlines() if line.startswith("level=error step=error")]
    assert errors and "exit=4 phase=resolve" in errors[0] and "nosuch" in errors[0]


def test_history_is_pruned(host: Host, repos):
    for decl in ({"bar": None}, {"app": None}, {"tool": None}, {"bar": None}):
        assert (
            host.cli(
                "apply", "--history-keep", "2", profile=profile_tree(decl, {"os": repos["snap2"]})
            ).returncode
            == 0
        )
    assert len(os.listdir(host.root / "var/lib/spma/history")) == 2


# --- profiles over https: a private CA, a server that wants a client certificate
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=spma-test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % name, "-keyout", name + ".key",
                 "-out", name + ".csr", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", name + ".pem", "-extfile", "san.cnf", cwd=d)  # fmt: skip
    return d


class _ProfileServer:
    def __init__(self, pki: Path, body: bytes) -> None:
        body_ref = body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", str(len(body_ref)))
                self.end_headers()
                self.wfile.write(body_ref)

            def log_message(self, *a: object) -> None:
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
        ctx.load_verify_locations(str(pki / "ca.pem"))
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.url = "https://127.0.0.1:%d/profiles/host.json" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


def test_https_profile_with_client_certificate_and_local_copy(host: Host, repos, pki: Path):
    body = json.dumps(profile_tree({"bar": None}, {"os": repos["snap2"]})).encode()
    srv = _ProfileServer(pki, body)
    tls = ["--ca-bundle", str(pki / "ca.pem"), "--client-cert", str(pki / "client.pem"),
           "--client-key", str(pki / "client.key")]  # fmt: skip
    try:
        p = host.cli("apply", srv.url, *tls)
        assert p.returncode == 0, p.stderr
        assert "bar-2.0-1.noarch" in host.installed()
        p = host.cli("plan", srv.url, "--ca-bundle", str(pki / "ca.pem"))  # no client certificate
        assert p.returncode == 3 and "cannot fetch profile" in p.stderr
        url = srv.url
    finally:
        srv.stop()
    # the server is gone: the last good copy is used, and the log says so
    p = host.cli("apply", url, *tls)
    assert p.returncode == 0, p.stderr
    assert "profile server unreachable" in p.stderr and "profile.last" in p.stderr
    other = Host(host.base / "other")
    p = other.cli("plan", url, *tls)
    assert p.returncode == 3 and "cannot fetch profile" in p.stderr


# --- package signatures
@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("signed")
    key = SigningKey(d / "gnupg")
    other = SigningKey(d / "gnupg-other", name="spma-other-key")
    pkgs = [p for p in SNAP2 if p.name in ("foo", "bar")]
    repo = make_repo(d / "repo", pkgs, sign=key)
    unsigned = make_repo(d / "unsigned", pkgs)
    yield {"repo": str(repo), "key": str(key.public), "other": str(other.public), "unsigned": str(unsigned)}
    key.close()
    other.close()


def _gpg_profile(repo: str, keys):  # type: ignore[no-untyped-def]
    prof = profile_tree({"bar": None}, {"os": repo})
    r = prof["software"]["repositories"][0]
    r["gpgcheck"] = True
    r["gpgkey"] = ["file://" + k for k in keys]
    return prof


def test_signed_packages_verified_with_the_profiles_key(fresh_root, signed):
    host = fresh_root("ok")
    res = host.apply(_gpg_profile(signed["repo"], [signed["key"]]))
    assert res.applied and host.installed() == ["bar-2.0-1.noarch", "foo-2.0-1.noarch"]
    keys = subprocess.run(["rpm", "--root", str(host.root), "--dbpath", "/var/lib/rpm", "-q", "gpg-pubkey"],
                          capture_output=True, text=True, env=dict(os.environ, HOME=str(host.base)))  # fmt: skip
    assert keys.stdout.startswith("gpg-pubkey-")
    # the imported key does not count as a change of the installed packages
    assert host.plan(_gpg_profile(signed["repo"], [signed["key"]])).changes == 0


@pytest.mark.parametrize("case", ["wrong-key", "no-key", "unsigned"])
def test_unverifiable_packages_are_refused_before_the_transaction(fresh_root, signed, case):
    host = fresh_root(case)
    repo = signed["unsigned"] if case == "unsigned" else signed["repo"]
    keys = {"wrong-key": [signed["other"]], "no-key": [], "unsigned": [signed["key"]]}[case]
    with pytest.raises(RepoError) as ei:
        host.apply(_gpg_profile(repo, keys))
    assert ei.value.exit_code == 5 and "nothing was changed" in str(ei.value)
    assert host.installed() == []
