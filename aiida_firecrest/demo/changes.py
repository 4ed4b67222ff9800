"""The real server's remote commands that change files (chmod, chown, mkdir, ln -s, rm, the upload's
``base64 -d``), done in Python on this machine's file systems.

As in :mod:`.coreutils`, they fail with :class:`~.errors.RemoteCommandError` carrying the stderr texts
coreutils would print (recorded in exchanges ``09``-``24``).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import stat
from pathlib import Path

from .access import (
    EXECUTE,
    READ,
    WRITE,
    allowed,
    check_parent_writable,
    check_traversal,
    denied,
    file_system_root,
    reason,
    require_access,
    stat_path,
)
from .errors import RemoteCommandError
from .settings import DemoSettings

# --- changing files ------------------------------------------------------------------------------

_SYMBOLIC_MODE = re.compile(r'^[ugoa]*([-+=]([rwxXst]*|[ugo]))+$')
_WHO_BITS = {'u': 0o4700, 'g': 0o2070, 'o': 0o1007}
_PERM_BITS = {'r': 0o444, 'w': 0o222, 'x': 0o111, 's': 0o6000, 't': 0o1000}


_CLASS_SHIFTS = {'u': 6, 'g': 3, 'o': 0}


def _clause_bits(perms: str, who_mask: int, current: int, is_dir: bool) -> int:
    if perms in _CLASS_SHIFTS:
        copied = (current >> _CLASS_SHIFTS[perms]) & 0o7
        return (copied << 6 | copied << 3 | copied) & who_mask
    bits = 0
    for perm in perms:
        if perm == 'X':
            if is_dir or current & 0o111:
                bits |= 0o111
        elif perm in _PERM_BITS:
            bits |= _PERM_BITS[perm]
    return bits & who_mask


def current_umask() -> int:
    """The process umask, read without changing it (``os.umask`` would race with other threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('Umask:'):
                return int(line.split()[1], 8)
    return 0o022


def _apply_clause(clause: str, mode: int, is_dir: bool) -> int:
    match = re.match(r'^([ugoa]*)(.*)$', clause)
    who, actions = (match.group(1), match.group(2)) if match else ('', clause)
    umask = current_umask()
    who_mask = sum(_WHO_BITS[w] for w in set(who.replace('a', 'ugo'))) if who else 0o7777 & ~umask
    for operator, perms in re.findall(r'([-+=])([rwxXstugo]*)', actions):
        bits = _clause_bits(perms, who_mask, mode, is_dir)
        if operator == '+':
            mode |= bits
        elif operator == '-':
            mode &= ~bits
        else:
            mode = (mode & ~(who_mask if who else 0o7777)) | bits
    return mode


def new_mode(spec: str, current: int, is_dir: bool) -> int | None:
    """The permission bits ``chmod spec`` sets (octal or symbolic), or None for an invalid mode."""
    if re.fullmatch(r'[0-7]{1,4}', spec):
        return int(spec, 8)
    clauses = spec.split(',')
    if not all(_SYMBOLIC_MODE.match(clause) for clause in clauses):
        return None
    mode = current & 0o7777
    for clause in clauses:
        mode = _apply_clause(clause, mode, is_dir)
    return mode


def change_mode(settings: DemoSettings, path: str, spec: str) -> None:
    try:
        st = stat_path(settings, path, follow=True)
    except OSError as exc:
        raise RemoteCommandError(f"chmod: cannot access '{path}': {reason(exc)}") from exc
    mode = new_mode(spec, st.st_mode, stat.S_ISDIR(st.st_mode))
    if mode is None:
        raise RemoteCommandError(f"chmod: invalid mode: '{spec}'\nTry 'chmod --help' for more information.")
    os.chmod(path, mode)


def _lookup_ids(owner: str, group: str) -> tuple[int, int]:
    spec = f'{owner}:{group}'
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner else -1
    except KeyError as exc:
        raise RemoteCommandError(f"chown: invalid spec: '{spec}'") from exc
    try:
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError as exc:
        raise RemoteCommandError(f"chown: invalid group: '{spec}'") from exc
    return uid, gid


def change_owner(settings: DemoSettings, path: str, owner: str, group: str) -> None:
    """``chown owner:group``: only to oneself and one's own groups, as an unprivileged user may."""
    uid, gid = _lookup_ids(owner, group)
    try:
        stat_path(settings, path, follow=True)
    except OSError as exc:
        raise RemoteCommandError(f"chown: cannot access '{path}': {reason(exc)}") from exc
    own_groups = {os.getegid(), *os.getgroups()}
    if uid not in (-1, os.geteuid()) or gid not in (-1, *own_groups):
        raise RemoteCommandError(f"chown: changing ownership of '{path}': Operation not permitted")
    os.chown(path, uid, gid)


def make_directory(settings: DemoSettings, path: str, parent: bool) -> None:
    try:
        check_traversal(settings, path)
        if parent and os.path.isdir(path):
            return
        if parent:
            missing = Path(path)
            while not missing.parent.exists():
                missing = missing.parent
            check_parent_writable(settings, str(missing))
            os.makedirs(path)
        else:
            check_parent_writable(settings, path)
            os.mkdir(path)
    except OSError as exc:
        raise RemoteCommandError(f"mkdir: cannot create directory '{path}': {reason(exc)}") from exc


def make_symlink(settings: DemoSettings, target: str, link: str) -> None:
    """``ln -s target link``; a link path naming a directory gets the link inside it."""
    if os.path.isdir(link):
        link = os.path.join(link, os.path.basename(os.path.normpath(target)))
    try:
        check_traversal(settings, link)
        check_parent_writable(settings, link)
        os.symlink(target, link)
    except OSError as exc:
        raise RemoteCommandError(f"ln: failed to create symbolic link '{link}': {reason(exc)}") from exc


def _check_removable(path: str) -> None:
    """Raise PermissionError for the first entry ``rm -r`` could not remove."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        return
    entries = os.listdir(path)
    if not entries:
        return  # an empty directory goes with its parent's write permission alone, as rmdir(2) says
    if not allowed(st, READ | WRITE | EXECUTE):
        raise denied(os.path.join(path, entries[0]) if allowed(st, READ) else path)
    for name in entries:
        _check_removable(os.path.join(path, name))


def remove(settings: DemoSettings, path: str) -> None:
    """``rm -r path``; a file system root itself is not removable."""
    try:
        if file_system_root(settings, path) == Path(os.path.normpath(path)):
            raise denied(path)
        check_traversal(settings, path)
        st = os.lstat(path)
        check_parent_writable(settings, path)
        _check_removable(path)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as exc:
        name = exc.filename if isinstance(exc.filename, str) else path
        raise RemoteCommandError(f"rm: cannot remove '{name}': {reason(exc)}") from exc


def write_upload(settings: DemoSettings, path: str, content: bytes) -> None:
    """``base64 -d > path`` (the shell creates or truncates the file first)."""
    try:
        check_traversal(settings, path)
        if os.path.exists(path):
            require_access(settings, path, WRITE)
        else:
            check_parent_writable(settings, path)
        with open(path, 'wb') as stream:
            stream.write(content)
    except OSError as exc:
        raise RemoteCommandError(f'bash: line 1: {path}: {reason(exc)}') from exc
