"""spma: make a host's packages exactly what its compiled Quattor profile declares.

Embedding spma in an agent (an ncm-ncd component, a configuration-management run, a daemon)::

    import spma
    result = spma.reconcile("https://quattor.example.org/profiles/web01.json", apply=True)
    print(result.plan["summary"], result.applied, result.noop)

Errors are `spma.errors.SpmaError` subclasses with an `exit_code`, a `phase` and a `hint`.
"""

from __future__ import annotations

__version__ = "0.1.0"

# typing.TYPE_CHECKING without importing typing (~2 ms): spma.entry answers the agent's no-op
# run with the standard library it needs and no more
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from spma.run import Result


def reconcile(source: str, *, root: str = "/", mode: str = "live", apply: bool = True, errata: Optional[str] = None,
              backend: str = "auto", plan_file: Optional[str] = None, lock_timeout: float = 60.0,
              agent: bool = False, **options: Any) -> Result:  # fmt: skip
    """Plan (and with `apply`, run) the transaction that makes `root` what the profile at
    `source` declares. `mode` is "live" or "boot". Returns the same Result the CLI renders;
    raises an SpmaError subclass on failure (nothing changed unless it is a TransactionError).
    Further keyword options are those of `spma.run.Options` (splay, ca_bundle, ...)."""
    from spma import run
    from spma.errors import UsageError

    if mode not in ("live", "boot"):
        raise UsageError("mode must be 'live' or 'boot', not %r" % mode)
    opts = run.Options(root=root, backend=backend, boot=mode == "boot", errata=errata, plan_file=plan_file,
                       lock_timeout=lock_timeout, agent=agent, **options)  # fmt: skip
    return run.apply(source, opts) if apply else run.plan(source, opts)


__all__ = ["__version__", "reconcile"]
