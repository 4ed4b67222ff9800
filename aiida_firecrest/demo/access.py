"""The real server's paths and permissions, as its remote commands meet them on this machine.

* A path must be absolute and inside one of the configured file systems (400 otherwise); the real
  server wraps paths in single quotes in a shell command line, so a ``'`` in any path fails with a raw
  shell error (500).
* Permissions are checked from the mode bits (owner bits for the owner, and for root), not left
  to the kernel, so that the 403 answers also happen when the server runs as root (CI does).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import FirecrestHTTPError, remote_failure
from .settings import DemoSettings

READ, WRITE, EXECUTE = 4, 2, 1
SHELL_QUOTE_ERROR = "bash: -c: line 1: unexpected EOF while looking for matching `''"


# --- paths -------------------------------------------------------------------------------------


def file_system_root(settings: DemoSettings, path: str) -> Path | None:
    """The configured file system (home or scratch root) holding ``path``, if any."""
    normalised = Path(os.path.normpath(path))
    for root in (settings.home_root, settings.scratch_root):
        if normalised == root or root in normalised.parents:
            return root
    return None


def check_path(settings: DemoSettings, path: str, user: str) -> str:
    """Refuse a path as the real server does before running any command; return it unchanged.

    :raises FirecrestHTTPError: 400 for a relative path or one outside the file systems, and the
        raw shell error (500) for a path with a single quote.
    """
    if not os.path.isabs(path):
        raise FirecrestHTTPError(400, f'The provided path ({path}) is not an absolute path.', user=user)
    if file_system_root(settings, path) is None:
        message = (
            f'The provided path ({path}) does not match any of the defined filesystem paths '
            f'for the requested system ({settings.system_name}).'
        )
        raise FirecrestHTTPError(400, message, user=user)
    if "'" in path:
        raise remote_failure(SHELL_QUOTE_ERROR, 2, user=user)
    return path


# --- permission emulation ----------------------------------------------------------------------


def allowed(st: os.stat_result, bit: int) -> bool:
    """Whether the current user has all the access ``bit`` asks (``READ | WRITE``...), from the mode bits.

    Root is treated as the owner, so that permission errors still happen when the server runs as root.
    """
    uid = os.geteuid()
    if uid == 0 or st.st_uid == uid:
        shift = 6
    elif st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        shift = 3
    else:
        shift = 0
    return (st.st_mode >> shift) & bit == bit


def denied(path: str) -> PermissionError:
    """The error of a denied access to ``path``."""
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)


def check_traversal(settings: DemoSettings, path: str) -> None:
    """Raise :class:`PermissionError` if a directory between the file system root and ``path`` lacks ``x``."""
    root = file_system_root(settings, path)
    if root is None:
        return
    current = Path(os.path.normpath(path))
    ancestors = [parent for parent in current.parents if parent == root or root in parent.parents]
    for ancestor in reversed(ancestors):
        try:
            st = os.stat(ancestor)
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode) and not allowed(st, EXECUTE):
            raise denied(path)


def stat_path(settings: DemoSettings, path: str, *, follow: bool) -> os.stat_result:
    """``stat`` (or ``lstat``) of ``path``, after the traversal check."""
    check_traversal(settings, path)
    return os.stat(path) if follow else os.lstat(path)


def require_access(settings: DemoSettings, path: str, bit: int) -> None:
    """Raise :class:`OSError` unless ``path`` exists (following links) with the ``bit`` access."""
    if not allowed(stat_path(settings, path, follow=True), bit):
        raise denied(path)


def reason(exc: OSError) -> str:
    """The text of an OS error, as coreutils print it after the path."""
    return exc.strerror or os.strerror(exc.errno or errno.EIO)


def check_parent_writable(settings: DemoSettings, path: str) -> None:
    """Raise :class:`PermissionError` unless the directory holding ``path`` can be written to."""
    parent = os.path.dirname(os.path.normpath(path))
    st = stat_path(settings, parent, follow=True)
    if not allowed(st, WRITE | EXECUTE):
        raise denied(path)
