"""Adversarial review of the module-excludes cache (backends/dnf/modular.py): everything under
--root is untrusted, and the file's digest is made only of what the root holds, so anyone who
can write the file can give it the right digest. A file with the right digest that hides less
than module filtering hides (here: nothing) makes the plan take a package of a stream that is
not active, which dnf never offers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dnf_fixtures import SPECS
from tests.test_dnf_module_cache import _CACHE, _by_dnf, _outcome, cached_modular_host

pytestmark = [pytest.mark.dnf, pytest.mark.skipif(not SPECS.is_dir(), reason="corpus dnf-fixtures absent")]


@pytest.mark.xfail(
    strict=True,
    reason="modular._restore trusts a file whose digest matches: the digest is computable from the "
    "root alone, and only packages the file names are checked, not the ones it leaves out",
)
def test_a_cache_file_with_the_right_digest_that_hides_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host, tree, first = cached_modular_host(tmp_path)
    path = host.root / _CACHE
    body = json.loads(path.read_text())
    assert body["excludes"]
    path.write_text(json.dumps(dict(body, excludes={})))  # the same digest, nothing hidden
    assert _outcome(host, tree) == first == _by_dnf(host, tree, monkeypatch)
