"""The real server's remote commands (ls, stat, head, tail, dd, sha256sum, file, chmod, chown, mkdir,
ln, rm, base64, tar), done in Python on this machine's file systems.

The real server runs coreutils over SSH and maps their stderr to status codes
(:func:`~.errors.remote_failure`). This module does the same work, confined to the configured
file systems, and fails with :class:`RemoteCommandError` carrying the stderr texts coreutils
would print (recorded in exchanges ``09``-``24``), so that clients see the same statuses and
messages. The routes of :mod:`.filesystem` and :mod:`.transfer` call it.

Faithfulness notes:

* Permissions are checked from the mode bits (owner bits for the owner, and for root), not left
  to the kernel, so that the 403 answers also happen when the server runs as root (CI does).
* ``ls`` names go through the same rendering as the real server: ``ls --quoting-style=c`` in a
  C locale, then ``shlex.split``. Printable ASCII comes back unchanged, but every other byte
  comes back as a backslash and three octal digits (``café`` -> ``caf\\303\\251``) and control
  characters as C escapes (a newline -> ``\\n``, two characters).
* The real server wraps paths in single quotes in a shell command line, so a ``'`` in any path
  fails with a raw shell error (500).
* ``ops/checksum`` of a path with a space answers 500 (the real server splits sha256sum's output
  on whitespace); a 0-byte upload creates the file and then answers 408 after ``command_timeout``
  (``base64 -d`` waits for a stdin never closed).
* The real SSH client reads at most ``max_ops_file_size`` bytes of a command's output, and its stderr
  to the end, under one timeout (:func:`output_verdict`): an output reaching the limit answers 413,
  but only while the rest fits in the SSH channel window (:data:`SSH_CHANNEL_WINDOW`) so that the
  command can end; a longer one blocks the command until the timeout, 408. ``ops/download`` outputs
  the file in base64 (:func:`base64_length`); ``ops/view`` runs ``dd bs=size skip=offset/size
  count=2``, so two blocks (:func:`dd_output_range`).
* ``ops/compress`` archives ``basename(sourcePath)`` relative to its parent, as
  ``tar -C dirname basename`` does, and with ``dereference`` stores a file met again as a hard link
  (:func:`_add_following_links`); with ``matchPattern`` it archives the regular files under
  ``dirname(sourcePath)`` whose ``./relative/path`` matches (``find . -type f -regex``), gzip always.
  ``ops/extract`` uses :mod:`tarfile`'s ``tar`` filter (GNU tar keeps absolute symlinks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import grp
import hashlib
import os
import pwd
import re
import shutil
import stat
import tarfile
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from .errors import FirecrestHTTPError, remote_failure
from .settings import DemoSettings

READ, WRITE, EXECUTE = 4, 2, 1
SHELL_QUOTE_ERROR = "bash: -c: line 1: unexpected EOF while looking for matching `''"
BUFFER_MESSAGE = 'Command output exceeded buffer limit.'
TAR_FATAL = 'tar: Error is not recoverable: exiting now'
TAR_FAILED = 'tar: Exiting with failure status due to previous errors'
DEFAULT_LINES = 10


class RemoteCommandError(Exception):
    """A failed remote command: its stderr and exit status, as the real server reports them."""

    def __init__(self, stderr: str, exit_status: int = 1) -> None:
        super().__init__(stderr)
        self.stderr = stderr
        self.exit_status = exit_status

    def http_error(self, user: str) -> FirecrestHTTPError:
        """The real server's answer to this failure (its status comes from the stderr)."""
        return remote_failure(self.stderr, self.exit_status, user=user)


@contextlib.contextmanager
def remote_errors(user: str) -> Iterator[None]:
    """Turn a :class:`RemoteCommandError` (of any kind) into the real server's HTTP error."""
    try:
        yield
    except RemoteCommandError as exc:
        raise exc.http_error(user) from exc


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


def _denied(path: str) -> PermissionError:
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
            raise _denied(path)


def _stat(settings: DemoSettings, path: str, *, follow: bool) -> os.stat_result:
    check_traversal(settings, path)
    return os.stat(path) if follow else os.lstat(path)


def require_access(settings: DemoSettings, path: str, bit: int) -> None:
    """Raise :class:`OSError` unless ``path`` exists (following links) with the ``bit`` access."""
    if not allowed(_stat(settings, path, follow=True), bit):
        raise _denied(path)


def _reason(exc: OSError) -> str:
    return exc.strerror or os.strerror(exc.errno or errno.EIO)


# --- ls ------------------------------------------------------------------------------------------

_C_ESCAPES = {7: 'a', 8: 'b', 9: 't', 10: 'n', 11: 'v', 12: 'f', 13: 'r'}


def ls_name(name: str) -> str:
    """A file name as the real server's ``ls --quoting-style=c`` + ``shlex.split`` gives it back."""
    rendered = []
    for byte in os.fsencode(name):
        if 0x20 <= byte < 0x7F:
            rendered.append(chr(byte))
        elif byte in _C_ESCAPES:
            rendered.append('\\' + _C_ESCAPES[byte])
        else:
            rendered.append(f'\\{byte:03o}')
    return ''.join(rendered)


def _owner_name(uid: int, numeric: bool) -> str:
    if not numeric:
        with contextlib.suppress(KeyError):
            return pwd.getpwuid(uid).pw_name
    return str(uid)


def _group_name(gid: int, numeric: bool) -> str:
    if not numeric:
        with contextlib.suppress(KeyError):
            return grp.getgrgid(gid).gr_name
    return str(gid)


def ls_entry(name: str, st: os.stat_result, link_target: str | None, numeric: bool) -> dict[str, Any]:
    """One ``ls`` entry as the real server returns it (``size`` is a string; time without zone)."""
    mode = stat.filemode(st.st_mode)
    return {
        'name': ls_name(name),
        'type': mode[0],
        'linkTarget': None if link_target is None else ls_name(link_target),
        'user': _owner_name(st.st_uid, numeric),
        'group': _group_name(st.st_gid, numeric),
        'permissions': mode[1:],
        'lastModified': time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(st.st_mtime)),
        'size': str(st.st_size),
    }


def describe(path: str) -> dict[str, Any]:
    """The ``ls -ld`` entry of ``path`` itself (named by the full path), as mkdir/chmod/... return."""
    st = os.lstat(path)
    target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
    return ls_entry(path, st, target, numeric=False)


@dataclasses.dataclass
class LsOptions:
    """The ``ops/ls`` query switches (``-A``, ``--numeric-uid-gid``, ``-R``, ``-L``)."""

    show_hidden: bool = False
    numeric_uid: bool = False
    recursive: bool = False
    dereference: bool = False


def _dir_entry(directory: str, name: str, prefix: str, options: LsOptions) -> tuple[dict[str, Any], bool]:
    """The entry of ``name`` inside ``directory``, and whether ``ls -R`` descends into it."""
    full = os.path.join(directory, name)
    st = os.lstat(full)
    if options.dereference and stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(full)
        except OSError as exc:
            raise RemoteCommandError(f"ls: cannot access '{full}': {_reason(exc)}", 1) from exc
    target = os.readlink(full) if stat.S_ISLNK(st.st_mode) else None
    entry = ls_entry(prefix + name, st, target, options.numeric_uid)
    return entry, stat.S_ISDIR(st.st_mode)


def _list_directory(
    directory: str, prefix: str, options: LsOptions, exit_status: int, listed: set[tuple[int, int]]
) -> list[dict[str, Any]]:
    st = os.stat(directory)
    if not allowed(st, READ | EXECUTE):
        raise RemoteCommandError(f"ls: cannot open directory '{directory}': Permission denied", exit_status)
    if (st.st_dev, st.st_ino) in listed:
        raise RemoteCommandError(f'ls: {directory}: not listing already-listed directory', 2)
    listed.add((st.st_dev, st.st_ino))
    names = sorted(os.listdir(directory), key=os.fsencode)
    if not options.show_hidden:
        names = [name for name in names if not name.startswith('.')]
    entries, subdirectories = [], []
    for name in names:
        entry, descend = _dir_entry(directory, name, prefix, options)
        entries.append(entry)
        if descend:
            subdirectories.append(name)
    if options.recursive:
        for name in subdirectories:
            subdirectory = os.path.join(directory, name)
            entries += _list_directory(subdirectory, f'{prefix}{name}/', options, 1, listed)
    return entries


def list_path(settings: DemoSettings, path: str, options: LsOptions) -> list[dict[str, Any]]:
    """``ls -l`` of ``path``: a directory's entries, or one entry named by the path as given."""
    try:
        st = _stat(settings, path, follow=options.dereference)
    except OSError as exc:
        raise RemoteCommandError(f"ls: cannot access '{path}': {_reason(exc)}", 2) from exc
    if not stat.S_ISDIR(st.st_mode):
        target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
        return [ls_entry(path, st, target, options.numeric_uid)]
    return _list_directory(path, '', options, 2, set())


def stat_fields(settings: DemoSettings, path: str, dereference: bool) -> dict[str, int]:
    """``stat`` of ``path`` (of the link itself unless ``dereference``), as the real server's integers."""
    try:
        st = _stat(settings, path, follow=dereference)
    except OSError as exc:
        raise RemoteCommandError(f"stat: cannot statx '{path}': {_reason(exc)}") from exc
    fields = ('mode', 'ino', 'dev', 'nlink', 'uid', 'gid', 'size', 'atime', 'ctime', 'mtime')
    return {field: int(getattr(st, f'st_{field}')) for field in fields}


# --- reading files -------------------------------------------------------------------------------


def read_file(settings: DemoSettings, path: str, tool: str) -> bytes:
    """The content of a file, failing with the stderr of ``head``/``tail`` (``tool``)."""
    try:
        require_access(settings, path, READ)
        with open(path, 'rb') as stream:
            return stream.read()
    except IsADirectoryError as exc:
        raise RemoteCommandError(f"{tool}: error reading '{path}': Is a directory") from exc
    except OSError as exc:
        raise RemoteCommandError(f"{tool}: cannot open '{path}' for reading: {_reason(exc)}") from exc


def _units(data: bytes, by_bytes: bool) -> list[bytes]:
    """The file as a list of bytes or of lines (each with its ``\\n``; only ``\\n`` ends a line)."""
    if by_bytes:
        return [data[index : index + 1] for index in range(len(data))]
    return re.findall(rb'[^\n]*\n|[^\n]+$', data)


def head_content(data: bytes, count: int, by_bytes: bool) -> bytes:
    """``head --lines/--bytes=count``; a negative count means all but the last ``-count``."""
    return b''.join(_units(data, by_bytes)[:count])


def tail_content(data: bytes, count: int, by_bytes: bool, from_start: bool) -> bytes:
    """``tail --lines/--bytes=count``, or ``+count`` (from the count-th unit on) with ``from_start``."""
    units = _units(data, by_bytes)
    if from_start:
        return b''.join(units[max(count - 1, 0) :])
    return b''.join(units[len(units) - count :]) if count > 0 else b''


#: asyncssh's default channel window: output the SSH client has not read yet, but lets the command write.
SSH_CHANNEL_WINDOW = 2 * 1024 * 1024


def output_verdict(settings: DemoSettings, size: int) -> int | None:
    """The real server's status for a command writing ``size`` bytes to stdout: None (read), 413 or 408.

    413 once the output reaches the buffer limit (``max_ops_file_size``) and the command could still
    end; 408, after the command timeout, when the output beyond the limit overflows the channel window
    and blocks the command.
    """
    limit = settings.max_ops_file_size
    if size < limit:
        return None
    return 413 if size <= limit + SSH_CHANNEL_WINDOW else 408


def command_output(settings: DemoSettings, data: bytes, user: str) -> str:
    """Command output as the real server decodes it, or its 413 once it reaches the buffer limit."""
    if len(data) >= settings.max_ops_file_size:
        raise FirecrestHTTPError(413, BUFFER_MESSAGE, user=user)
    return data.decode('utf-8', errors='replace')


# --- file(1) -------------------------------------------------------------------------------------

_MAGIC = (
    (b'\x1f\x8b', 'gzip compressed data'),
    (b'BZh', 'bzip2 compressed data, block size = 900k'),
    (b'\xfd7zXZ\x00', 'XZ compressed data, checksum CRC64'),
    (b'\x7fELF', 'ELF executable'),
    (b'PK\x03\x04', 'Zip archive data'),
)


def _text_description(sample: bytes) -> str:
    try:
        sample.decode('ascii')
        kind = 'ASCII text'
    except UnicodeDecodeError:
        try:
            sample.decode('utf-8')
        except UnicodeDecodeError:
            return 'data'
        kind = 'Unicode text, UTF-8 text'
    longest = max(len(line) for line in sample.split(b'\n'))
    if longest > 300:
        kind += f', with very long lines ({longest})'
    if b'\r\n' in sample:
        kind += ', with CRLF line terminators'
    if b'\n' not in sample:
        kind += ', with no line terminators'
    return kind


def file_type(settings: DemoSettings, path: str) -> str:
    """What ``file -b`` says of ``path`` (for a missing path too: it is not an error for ``file``)."""
    try:
        st = _stat(settings, path, follow=False)
        if stat.S_ISLNK(st.st_mode):
            return f'symbolic link to {os.readlink(path)}'
        if stat.S_ISDIR(st.st_mode):
            return 'directory'
        if not stat.S_ISREG(st.st_mode):
            return 'special'
        if st.st_size == 0:
            return 'empty'
        with open(path, 'rb') as stream:
            sample = stream.read(65536)
    except OSError as exc:
        return f"cannot open `{path}' ({_reason(exc)})"
    for magic, description in _MAGIC:
        if sample.startswith(magic):
            return description
    if len(sample) >= 262 and sample[257:262] == b'ustar':
        return 'POSIX tar archive (GNU)'
    return _text_description(sample)


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
        st = _stat(settings, path, follow=True)
    except OSError as exc:
        raise RemoteCommandError(f"chmod: cannot access '{path}': {_reason(exc)}") from exc
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
        _stat(settings, path, follow=True)
    except OSError as exc:
        raise RemoteCommandError(f"chown: cannot access '{path}': {_reason(exc)}") from exc
    own_groups = {os.getegid(), *os.getgroups()}
    if uid not in (-1, os.geteuid()) or gid not in (-1, *own_groups):
        raise RemoteCommandError(f"chown: changing ownership of '{path}': Operation not permitted")
    os.chown(path, uid, gid)


def _check_parent_writable(settings: DemoSettings, path: str) -> None:
    parent = os.path.dirname(os.path.normpath(path))
    st = _stat(settings, parent, follow=True)
    if not allowed(st, WRITE | EXECUTE):
        raise _denied(path)


def make_directory(settings: DemoSettings, path: str, parent: bool) -> None:
    try:
        check_traversal(settings, path)
        if parent and os.path.isdir(path):
            return
        if parent:
            missing = Path(path)
            while not missing.parent.exists():
                missing = missing.parent
            _check_parent_writable(settings, str(missing))
            os.makedirs(path)
        else:
            _check_parent_writable(settings, path)
            os.mkdir(path)
    except OSError as exc:
        raise RemoteCommandError(f"mkdir: cannot create directory '{path}': {_reason(exc)}") from exc


def make_symlink(settings: DemoSettings, target: str, link: str) -> None:
    """``ln -s target link``; a link path naming a directory gets the link inside it."""
    if os.path.isdir(link):
        link = os.path.join(link, os.path.basename(os.path.normpath(target)))
    try:
        check_traversal(settings, link)
        _check_parent_writable(settings, link)
        os.symlink(target, link)
    except OSError as exc:
        raise RemoteCommandError(f"ln: failed to create symbolic link '{link}': {_reason(exc)}") from exc


def _check_removable(path: str) -> None:
    """Raise PermissionError for the first entry ``rm -r`` could not remove."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        return
    entries = os.listdir(path)
    if not entries:
        return  # an empty directory goes with its parent's write permission alone, as rmdir(2) says
    if not allowed(st, READ | WRITE | EXECUTE):
        raise _denied(os.path.join(path, entries[0]) if allowed(st, READ) else path)
    for name in entries:
        _check_removable(os.path.join(path, name))


def remove(settings: DemoSettings, path: str) -> None:
    """``rm -r path``; a file system root itself is not removable."""
    try:
        if file_system_root(settings, path) == Path(os.path.normpath(path)):
            raise _denied(path)
        check_traversal(settings, path)
        st = os.lstat(path)
        _check_parent_writable(settings, path)
        _check_removable(path)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as exc:
        name = exc.filename if isinstance(exc.filename, str) else path
        raise RemoteCommandError(f"rm: cannot remove '{name}': {_reason(exc)}") from exc


def checksum(settings: DemoSettings, path: str, user: str) -> dict[str, str]:
    try:
        require_access(settings, path, READ)
        digest = hashlib.sha256()
        with open(path, 'rb') as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b''):
                digest.update(chunk)
    except OSError as exc:
        raise RemoteCommandError(f'sha256sum: {path}: {_reason(exc)}') from exc
    output = f'{digest.hexdigest()}  {path}\n'
    if len(output.split()) != 2:
        raise FirecrestHTTPError(500, f'Invalid output: {output} ', user=user)
    return {'algorithm': 'SHA256', 'checksum': digest.hexdigest()}


def base64_input_size(settings: DemoSettings, path: str) -> int:
    """The size of the file ``base64 --wrap=0`` encodes, failing as base64 does (missing, unreadable...)."""
    try:
        require_access(settings, path, READ)
        st = os.stat(path)
    except OSError as exc:
        raise RemoteCommandError(f'base64: {path}: {_reason(exc)}') from exc
    if stat.S_ISDIR(st.st_mode):
        raise RemoteCommandError('base64: read error: Is a directory')
    return st.st_size


def base64_length(size: int) -> int:
    """The length of the base64 form of ``size`` bytes, without line breaks."""
    return 4 * -(-size // 3)


def dd_input_size(settings: DemoSettings, path: str) -> int:
    """The size of the file ``dd`` reads, failing as dd does (missing, unreadable, a directory)."""
    try:
        require_access(settings, path, READ)
        st = os.stat(path)
    except OSError as exc:
        raise RemoteCommandError(f"dd: failed to open '{path}': {_reason(exc)}") from exc
    if stat.S_ISDIR(st.st_mode):
        stats = '0+0 records in\n0+0 records out\n0 bytes copied, 4.8537e-05 s, 0.0 kB/s'
        raise RemoteCommandError(f"dd: error reading '{path}': Is a directory\n{stats}")
    return st.st_size


def dd_output_range(file_size: int, block: int, offset: int) -> tuple[int, int]:
    """``(start, length)`` of what ``dd bs=block skip=offset//block count=2`` writes of a file."""
    start = offset // block * block
    return start, max(0, min(2 * block, file_size - start))


def read_range(path: str, start: int, length: int) -> bytes:
    with open(path, 'rb') as stream:
        stream.seek(start)
        return stream.read(length)


def write_upload(settings: DemoSettings, path: str, content: bytes) -> None:
    """``base64 -d > path`` (the shell creates or truncates the file first)."""
    try:
        check_traversal(settings, path)
        if os.path.exists(path):
            require_access(settings, path, WRITE)
        else:
            _check_parent_writable(settings, path)
        with open(path, 'wb') as stream:
            stream.write(content)
    except OSError as exc:
        raise RemoteCommandError(f'bash: line 1: {path}: {_reason(exc)}') from exc


# --- tar -----------------------------------------------------------------------------------------


class Compression(str, Enum):
    """The ``compression`` of compress and extract requests (ops and transfer alike)."""

    none = 'none'
    bzip2 = 'bzip2'
    gzip = 'gzip'
    xz = 'xz'

    @property
    def tar_flag(self) -> str:
        """The letter GNU tar takes for it (``z`` for ``-czf``), as the transfer jobs run tar."""
        return {'none': '', 'gzip': 'z', 'bzip2': 'j', 'xz': 'J'}[self.value]

    @property
    def write_mode(self) -> Literal['w:', 'w:gz', 'w:bz2', 'w:xz']:
        """The :func:`tarfile.open` mode that writes an archive of it (``'w:gz'``)."""
        modes: dict[str, Literal['w:', 'w:gz', 'w:bz2', 'w:xz']]
        modes = {'none': 'w:', 'gzip': 'w:gz', 'bzip2': 'w:bz2', 'xz': 'w:xz'}
        return modes[self.value]

    @property
    def read_mode(self) -> Literal['r:*', 'r:gz', 'r:bz2', 'r:xz']:
        """The :func:`tarfile.open` mode that reads it as ``tar -x{z|j|J|}`` does (no flag: tar detects)."""
        modes: dict[str, Literal['r:*', 'r:gz', 'r:bz2', 'r:xz']]
        modes = {'none': 'r:*', 'gzip': 'r:gz', 'bzip2': 'r:bz2', 'xz': 'r:xz'}
        return modes[self.value]


_NOT_COMPRESSED = {
    Compression.gzip: 'gzip: stdin: not in gzip format\ntar: Child returned status 1',
    Compression.bzip2: 'bzip2: (stdin) is not a bzip2 file.\ntar: Child returned status 2',
    Compression.xz: 'xz: (stdin): File format not recognized\ntar: Child returned status 1',
    Compression.none: 'tar: This does not look like a tar archive',
}


def _open_archive(settings: DemoSettings, target: str, compression: Compression) -> tarfile.TarFile:
    try:
        check_traversal(settings, target)
        _check_parent_writable(settings, target)
        return tarfile.open(target, compression.write_mode)
    except OSError as exc:
        raise RemoteCommandError(f'tar: {target}: Cannot open: {_reason(exc)}\n{TAR_FATAL}', 2) from exc


def _matching_files(directory: str, pattern: str, target: str) -> list[str]:
    """``find . -type f -regex pattern`` in ``directory`` (the archive being written excluded)."""
    regex = re.compile(pattern)
    found = []
    for base, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(base, name)
            relative = './' + os.path.relpath(full, directory)
            if os.path.isfile(full) and full != target and regex.fullmatch(relative):
                found.append(relative)
    return found


def compress(
    settings: DemoSettings,
    source: str,
    target: str,
    *,
    match_pattern: str | None,
    dereference: bool,
    compression: Compression,
) -> None:
    """``tar -c -C dirname(source) basename(source)`` into ``target`` (see the module docstring)."""
    parent, name = os.path.split(os.path.normpath(source))
    if match_pattern:
        compression = Compression.gzip
    with _open_archive(settings, target, compression) as archive:
        archive.dereference = dereference
        if match_pattern:
            for relative in _matching_files(parent, match_pattern, target):
                archive.add(os.path.join(parent, relative), arcname=relative)
            return
        failure = _missing_source(settings, source, name)
        if failure is None and dereference:
            _add_following_links(archive, source, name, {})
        elif failure is None:
            archive.add(source, arcname=name)
    if failure is not None:
        raise failure


def _add_following_links(
    archive: tarfile.TarFile, path: str, arcname: str, first_names: dict[tuple[int, int], str]
) -> None:
    """Add ``path`` as ``tar --dereference`` does: a file met again is a hard link to its first name.

    Following links, GNU tar remembers every file (not only those with several links, as without it), so
    the target of a link inside the tree is stored once and every other occurrence as a hard-link entry.
    """
    info = archive.gettarinfo(path, arcname)
    if info is None:  # a socket: tar skips it
        return
    if info.isreg():
        st = os.stat(path)
        key = (st.st_dev, st.st_ino)
        if key in first_names:
            info.type, info.linkname, info.size = tarfile.LNKTYPE, first_names[key], 0
            archive.addfile(info)
            return
        first_names[key] = arcname
        with open(path, 'rb') as stream:
            archive.addfile(info, stream)
        return
    archive.addfile(info)
    if info.isdir():
        for name in sorted(os.listdir(path)):
            _add_following_links(archive, os.path.join(path, name), f'{arcname}/{name}', first_names)


def _missing_source(settings: DemoSettings, source: str, name: str) -> RemoteCommandError | None:
    """tar's error for a source it cannot stat (the archive is still written, empty, as tar does)."""
    try:
        check_traversal(settings, source)
        os.lstat(source)
    except OSError as exc:
        return RemoteCommandError(f'tar: {name}: Cannot stat: {_reason(exc)}\n{TAR_FAILED}', 2)
    return None


def _read_archive(source: str, compression: Compression) -> tarfile.TarFile:
    """Open an archive as ``tar -x{z|j|J|}`` reads it (without a flag, tar detects the compression)."""
    try:
        return tarfile.open(source, compression.read_mode)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RemoteCommandError(f'{_NOT_COMPRESSED[compression]}\n{TAR_FATAL}', 2) from exc


def extract(settings: DemoSettings, source: str, target: str, compression: Compression) -> None:
    """``tar -x -f source -C target``, with tarfile's ``tar`` filter (absolute symlinks are kept)."""
    try:
        require_access(settings, source, READ)
    except OSError as exc:
        raise RemoteCommandError(f'tar: {source}: Cannot open: {_reason(exc)}\n{TAR_FATAL}', 2) from exc
    try:
        st = _stat(settings, target, follow=True)
        if not allowed(st, WRITE | EXECUTE):
            raise _denied(target)
    except OSError as exc:
        raise RemoteCommandError(f'tar: {target}: Cannot open: {_reason(exc)}\n{TAR_FATAL}', 2) from exc
    with _read_archive(source, compression) as archive:
        try:
            archive.extractall(target, filter='tar')
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise RemoteCommandError(f'tar: {exc}\n{TAR_FAILED}', 2) from exc
