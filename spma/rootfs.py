"""Files under --root, seen as the root's own system sees them.

A root is untrusted: any directory or file in it may be a symlink, and a link that a process on
the host follows naively can lead anywhere on the host. Every file spma itself creates, replaces,
reads or removes under a root goes through this module, which walks the path one component at a
time from a descriptor of the root (openat-style):

- a symlink is resolved as a chroot would: an absolute target starts again at the root, so a link
  to `/var/lib/x` means `<root>/var/lib/x`, never the host's `/var/lib/x`;
- a relative target that climbs above the root with `..`, or a chain of more than 40 links, is
  refused (SafetyError, exit 7) naming the link: no system built from the root could mean it;
- intermediate directories are opened with O_NOFOLLOW, so a link swapped in after the check
  fails the run instead of redirecting it;
- a file is replaced by rename in its directory (a link at the final name is replaced, never
  followed) and removed only when it is a regular file carrying spma's mark.

Paths handed to other programs (dpkg's log, apt's directories, dnf's cache) are resolved here
first; what those programs do below such a path is theirs (docs/security.md).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat

from spma.errors import SafetyError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see spma/__init__.py)
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterator, List, Optional, Tuple

MAX_LINKS = 40
# The first line of every configuration file spma writes into a root; spma removes only files
# that begin with it (a root's own files are never deleted, only disabled by renaming).
MARK = "# Written by spma"
# Suffix of a foreign repository file spma disabled: dnf reads only *.repo, and apt ignores
# *.disabled silently (Dir::Ignore-Files-Silently).
DISABLED = ".disabled"

# Every path under a root that spma, or the package manager it drives, writes to. A run checks
# them all before it changes anything (check_paths), so a link leading out of the root stops the
# run up front, never half-way through (after the transaction, at the repository files).
WRITES = (
    "var/lib/spma", "var/lib/spma/state.json", "var/lib/spma/pending.json", "var/lib/spma/pending",
    "var/lib/spma/boot.trigger", "var/lib/spma/history", "var/lib/spma/cache", "var/lib/spma/log",
    "var/lib/spma/profile.last", "run", "run/spma.lock", "run/reboot-required", "run/reboot-required.pkgs",
    "etc/yum.repos.d", "etc/apt/sources.list.d", "etc/apt/keyrings", "usr/sbin/policy-rc.d", "var/lib/dnf",
    "var/lib/dpkg", "var/lib/apt", "var/lib/apt/extended_states", "var/log/apt", "var/log/apt/term.log",
    "var/log/apt/history.log", "var/log/apt/eipp.log.xz", "var/log/dpkg.log",
)  # fmt: skip

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class SizeError(ValueError):
    """A file is larger than the bound its reader allows."""


def relpath(root: str, path: str) -> str:
    """`path` relative to `root`: an absolute host path below the root, or already relative."""
    root = os.path.abspath(root)
    if not os.path.isabs(path):
        return path
    path = os.path.normpath(path)
    if path == root:
        return ""
    if not path.startswith(root.rstrip("/") + "/"):
        raise ValueError("%s is not below the root %s" % (path, root))
    return path[len(root.rstrip("/")) + 1 :]


def _parts(p: str) -> List[str]:
    return [c for c in p.split("/") if c not in ("", ".")]


_ESCAPE_HINT = "remove or fix the symlink in the root; spma never follows a link out of it"


@contextlib.contextmanager
def _at(
    root: str, path: str, *, follow_final: bool = True, create: bool = False
) -> Iterator[Tuple[int, str, str]]:
    """(descriptor of the parent directory, final name, host path) of `path` in `root`.

    The final component is followed when it is a symlink only with `follow_final`; it need not
    exist. With `create`, missing directories on the way are made (0755)."""
    root = os.path.abspath(root)
    rel = relpath(root, path)
    stack: List[Tuple[int, str]] = [(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), root)]
    todo = _parts(rel)
    links = 0
    try:
        if not todo:
            raise IsADirectoryError(errno.EISDIR, "the root itself", root)
        while True:
            comp = todo.pop(0)
            fd, here = stack[-1]
            if comp == "..":
                if len(stack) == 1:
                    raise SafetyError("%s: a symlink on the way leads above the root %s"
                                      % (os.path.join(root, rel), root), hint=_ESCAPE_HINT)  # fmt: skip
                os.close(stack.pop()[0])
                continue
            try:
                st: Optional[os.stat_result] = os.stat(comp, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode) and (follow_final or todo):
                links += 1
                todo = _follow(stack, comp, links, os.path.join(root, rel)) + todo
                continue
            if not todo:
                try:
                    yield fd, comp, os.path.join(here, comp)
                except OSError as e:
                    _host_name(e, here)
                    raise
                return
            stack.append(
                (_open_dir(fd, here, comp, exists=st is not None, create=create), os.path.join(here, comp))
            )
    finally:
        for fd, _ in stack:
            os.close(fd)


def _follow(stack: List[Tuple[int, str]], comp: str, links: int, full: str) -> List[str]:
    """The components a symlink `comp` in the top directory of `stack` stands for; an absolute
    target restarts at the root (the stack is cut back to it), as a chroot would."""
    fd, here = stack[-1]
    link = os.path.join(here, comp)
    if links > MAX_LINKS:
        raise SafetyError("%s: too many levels of symbolic links (a loop?) at %s" % (full, link),
                          hint="fix the symlinks in the root")  # fmt: skip
    target = os.readlink(comp, dir_fd=fd)
    if target.startswith("/"):
        while len(stack) > 1:
            os.close(stack.pop()[0])
    elif _climbs_out(stack, target):
        raise SafetyError(
            "the symlink %s -> %s leads outside the root %s" % (link, target, stack[0][1]), hint=_ESCAPE_HINT
        )
    parts = _parts(target)
    if not parts:  # a link to "/" itself
        raise IsADirectoryError(errno.EISDIR, "a link to the root", link)
    return parts


def _host_name(e: OSError, here: str) -> None:
    """A call relative to a directory descriptor names only the final component: name the host
    path, so an error ("read-only file system", "no room") says where."""
    if isinstance(e.filename, str) and e.filename and not os.path.isabs(e.filename):
        e.filename = os.path.join(here, e.filename)


def _open_dir(fd: int, here: str, comp: str, *, exists: bool, create: bool) -> int:
    try:
        if not exists:
            if not create:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", os.path.join(here, comp))
            with contextlib.suppress(FileExistsError):
                os.mkdir(comp, 0o755, dir_fd=fd)
        return os.open(comp, _DIR_FLAGS, dir_fd=fd)
    except OSError as e:
        _host_name(e, here)
        raise


def _climbs_out(stack: List[Tuple[int, str]], target: str) -> bool:
    depth = len(stack) - 1
    for c in _parts(target):
        depth += -1 if c == ".." else 1
        if depth < 0:
            return True
    return False


def resolve(root: str, path: str, *, create_parents: bool = False) -> str:
    """The host path of `path` as the root sees it (for handing to another program)."""
    with _at(root, path, create=create_parents) as (_fd, _name, host):
        return host


def makedirs(root: str, path: str, mode: int = 0o755) -> str:
    """Make the directory `path` (and its parents) inside the root; its resolved host path."""
    with _at(root, path, create=True) as (fd, name, host):
        try:
            os.mkdir(name, mode, dir_fd=fd)
        except FileExistsError:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory", host) from None
        return host


def exists(root: str, path: str) -> bool:
    """Whether `path` names anything (a dangling link counts) as the root sees it."""
    try:
        with _at(root, path, follow_final=False) as (fd, name, _host):
            os.stat(name, dir_fd=fd, follow_symlinks=False)
            return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def read_bytes(root: str, path: str, limit: int) -> Optional[bytes]:
    """A regular file's bytes, or None if it does not exist; SizeError above `limit` bytes."""
    try:
        with _at(root, path) as (fd, name, host):
            f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(f).st_mode):
            raise SizeError("%s is not a regular file" % host)
        return read_bounded(f, limit, host)
    finally:
        os.close(f)


def read_bounded(fd: int, limit: int, name: str) -> bytes:
    chunks: List[bytes] = []
    total = 0
    while True:
        b = os.read(fd, min(1 << 20, limit + 1 - total))
        if not b:
            return b"".join(chunks)
        chunks.append(b)
        total += len(b)
        if total > limit:
            raise SizeError("%s is larger than %d bytes" % (name, limit))


def open_temp(name: str, dir_fd: Optional[int] = None) -> Tuple[int, str]:
    """A new empty file beside `name` (a path, or a name in `dir_fd`) to fill and rename over it:
    created exclusively, never through a link, mode 0600, a random name; returned open for
    writing, with its name. os.urandom, as secrets.token_hex and tempfile.mkstemp: neither
    secrets nor tempfile (which brings shutil, random, bz2 and lzma) is imported on the way, not
    by the agent's no-op run nor by a plan writing its file."""
    d, base = os.path.split(name)
    for _ in range(100):  # a name taken (as mkstemp: try another)
        tmp = os.path.join(d, ".%s.%s.tmp" % (base[:100], os.urandom(4).hex()))
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            return os.open(tmp, flags, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", d or ".")


def _replace(root: str, path: str, fill: Callable[[int], None], mode: int, durable: bool) -> str:
    """Replace `path` atomically with what `fill` writes to a temp file beside it (with
    `durable`: fsync of the file, then of the directory after the rename); a link at the final
    name is replaced, never followed. Returns the host path written."""
    with _at(root, path, follow_final=False, create=True) as (fd, name, host):
        f, tmp = open_temp(name, dir_fd=fd)
        try:
            try:
                fill(f)
                if durable:
                    os.fsync(f)
                os.fchmod(f, mode)
            finally:
                os.close(f)
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd)
            raise
        if durable:
            os.fsync(fd)
        return host


def _write_all(f: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(f, view) :]


def write_file(root: str, path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> str:
    """Replace `path` atomically (temp file + fsync + rename + fsync of the directory); a link
    at the final name is replaced, never followed. Returns the host path written."""
    return _replace(root, path, lambda f: _write_all(f, data), mode, durable)


def remove_marked(root: str, path: str, mark: str = MARK) -> bool:
    """Remove `path` only if it is a regular file spma wrote (it begins with `mark`); a link or
    a file of the root's own is left alone. True if something was removed."""
    try:
        with _at(root, path, follow_final=False) as (fd, name, _host):
            try:
                f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
            except (FileNotFoundError, OSError):
                return False
            try:
                if not stat.S_ISREG(os.fstat(f).st_mode) or not _has_mark(f, mark):
                    return False
            finally:
                os.close(f)
            os.unlink(name, dir_fd=fd)
            return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def _has_mark(fd: int, mark: str) -> bool:
    # first line, or after a #! line or a flag's own first line (run/reboot-required)
    lines = os.pread(fd, 4096, 0).split(b"\n")[:3]
    return any(line.startswith(mark.encode()) for line in lines)


def is_marked(root: str, path: str, mark: str = MARK) -> bool:
    try:
        with _at(root, path, follow_final=False) as (fd, name, _host):
            f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
            try:
                return stat.S_ISREG(os.fstat(f).st_mode) and _has_mark(f, mark)
            finally:
                os.close(f)
    except OSError:
        return False


def remove(root: str, path: str) -> bool:
    """Remove spma's own bookkeeping file `path` (state, pending, trigger): the entry itself,
    never what a link there points to."""
    try:
        with _at(root, path, follow_final=False) as (fd, name, _host):
            os.unlink(name, dir_fd=fd)
            return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def rename(root: str, path: str, new_name: str) -> Optional[str]:
    """Rename the entry `path` (a link itself, not its target) within its directory; the new
    host path, or None if there was nothing to rename."""
    if "/" in new_name or new_name in ("", ".", ".."):
        raise ValueError("%r is not a file name" % new_name)
    try:
        with _at(root, path, follow_final=False) as (fd, name, host):
            os.replace(name, new_name, src_dir_fd=fd, dst_dir_fd=fd)
            return os.path.join(os.path.dirname(host), new_name)
    except (FileNotFoundError, NotADirectoryError):
        return None


def disable(root: str, path: str) -> Optional[str]:
    """Rename a root's own file out of the way (`<name>.disabled`); the new host path."""
    return rename(root, path, os.path.basename(path) + DISABLED)


def listdir(root: str, path: str) -> List[str]:
    """Names in the directory `path` as the root sees it; [] if it does not exist."""
    try:
        with _at(root, path) as (fd, name, _host):
            d = os.open(name, _DIR_FLAGS, dir_fd=fd)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        return sorted(os.listdir(d))
    finally:
        os.close(d)


def rmtree(root: str, path: str) -> None:
    """Remove spma's own directory `path` and what is in it; a link there is removed itself,
    links inside are never followed (shutil's fd-based walk)."""
    try:
        with _at(root, path, follow_final=False) as (fd, name, host):
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(name, dir_fd=fd)
                return
    except (FileNotFoundError, NotADirectoryError):
        return
    import shutil

    if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - Linux has the fd functions
        raise SafetyError("cannot remove %s safely on this platform" % host)
    shutil.rmtree(host)


def open_lock(root: str, path: str) -> int:
    """A read-write descriptor on the lock file, created if missing; never through a link."""
    with _at(root, path, follow_final=False, create=True) as (fd, name, host):
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise SafetyError(
                    "the lock file %s is a symlink" % host, hint="remove the symlink from the root"
                ) from e
            raise


def copy_file(root: str, src: str, path: str, mode: int = 0o644) -> str:
    """Copy the host file `src` (spma's own download) to `path` in the root, atomically, without
    following a link at the destination; the host path written."""

    def fill(f: int) -> None:
        with open(src, "rb") as s:
            for chunk in iter(lambda: s.read(1 << 20), b""):
                _write_all(f, chunk)

    return _replace(root, path, fill, mode, durable=False)


def config_safe(path: str) -> str:
    """`path` for a quoted value of apt's configuration or a package manager's argument: a
    resolved path carries link targets from the root, which must not end the quoting."""
    if any(c in path for c in '"\\;{}') or not path.isprintable() or not path.isascii():
        raise SafetyError(
            "the path %r (resolved through symlinks in the root) contains characters spma will not "
            "put into a package manager's configuration" % path,
            hint="fix the symlinks in the root",
        )
    return path


def write_repo_files(root: str, directory: str, files: Dict[str, bytes], suffixes: Tuple[str, ...], *,
                     userrepos: bool) -> None:  # fmt: skip
    """The repository files of the profile into `directory` of the root. Every other file with
    one of `suffixes` that spma wrote (it carries the mark) is removed; without `userrepos`, one
    of the root's own is taken out of use by renaming it to *.disabled, never deleted."""
    log = logging.getLogger("spma.rootfs")
    makedirs(root, directory)
    for fn, data in sorted(files.items()):
        if "/" in fn or fn.startswith("."):
            raise ValueError("%r is not a repository file name" % fn)
        write_file(root, os.path.join(directory, fn), data)
    for fn in listdir(root, directory):
        if not fn.endswith(suffixes) or fn in files:
            continue
        path = os.path.join(directory, fn)
        if remove_marked(root, path):
            log.info("removed the repository file %s spma wrote earlier", path)
        elif not userrepos and is_file(root, path):
            new = disable(root, path)
            log.info("disabled the unmanaged repository file %s (renamed to %s)", path, new)


def is_file(root: str, path: str) -> bool:
    """Whether `path`, links followed as the root sees them, is anything but missing."""
    try:
        with _at(root, path) as (fd, name, _host):
            os.stat(name, dir_fd=fd, follow_symlinks=False)
            return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def check_paths(root: str, paths: Tuple[str, ...] = WRITES) -> None:
    """SafetyError (exit 7) naming the link if any of `paths` leads out of the root."""
    for p in paths:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            resolve(root, p)


def scrub_links(root: str, path: str, keep_files_in: Tuple[str, ...] = ()) -> List[str]:
    """Remove every symlink below spma's own directory `path` (its cache): one planted there
    would lead a download or a metadata write wherever it points. Returns the links removed.

    `keep_files_in` names directories (relative to `path`) where the package manager itself
    links files: apt's acquire links a `file:` repository's uncompressed index into its lists
    directory. apt only reads through such a link and replaces it by rename, never writes
    through it; a link to a directory there, and every link in `partial/`, still goes."""
    try:
        top = resolve(root, path)
    except (FileNotFoundError, NotADirectoryError):
        return []
    kept = {os.path.join(top, d) for d in keep_files_in}
    removed = []
    for dirpath, dirs, files in os.walk(top):  # never follows links
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            if dirpath in kept and n in files and not os.path.isdir(p):
                continue
            if os.path.islink(p):
                os.unlink(p)
                removed.append(p)
    if removed:
        logging.getLogger("spma.rootfs").warning(
            "removed %d symlinks planted in spma's cache (e.g. %s)", len(removed), removed[0]
        )
    return removed


def sha256(root: str, path: str) -> str:
    """The sha256 of the regular file `path` in the root (streamed); FileNotFoundError if missing."""
    import hashlib

    with _at(root, path) as (fd, name, host):
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    try:
        if not stat.S_ISREG(os.fstat(f).st_mode):
            raise SizeError("%s is not a regular file" % host)
        h = hashlib.sha256()
        while True:
            b = os.read(f, 1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)
    finally:
        os.close(f)


def read_text(root: str, path: str, limit: int = 64 * 1024) -> str:
    """A small informational file of the root (os-release): its text, or "" when it is missing,
    not a regular file, larger than `limit` or behind a link out of the root."""
    try:
        data = read_bytes(root, path, limit)
    except (OSError, ValueError, SafetyError):
        return ""
    return data.decode("utf-8", "replace") if data else ""
