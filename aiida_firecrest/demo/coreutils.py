"""The real server's remote commands that read files (ls, stat, head, tail, dd, sha256sum, file, base64),
done in Python on this machine's file systems.

The real server runs coreutils over SSH and maps their stderr to status codes
(:func:`~.errors.remote_failure`). This module does the same work, confined to the configured
file systems (paths and permissions as :mod:`.access` checks them), and fails with
:class:`~.errors.RemoteCommandError` carrying the stderr texts coreutils would print (recorded in
exchanges ``09``-``24``), so that clients see the same statuses and messages. The commands that
change files are in :mod:`.changes`, ``tar`` in :mod:`.archives`; the routes of :mod:`.filesystem`
and :mod:`.transfer` call them.

Faithfulness notes:

* ``ls`` names go through the same rendering as the real server: ``ls --quoting-style=c`` in a
  C locale, then ``shlex.split``. Printable ASCII comes back unchanged, but every other byte
  comes back as a backslash and three octal digits (``café`` -> ``caf\\303\\251``) and control
  characters as C escapes (a newline -> ``\\n``, two characters).
* ``ops/checksum`` of a path with a space answers 500 (the real server splits sha256sum's output
  on whitespace); a 0-byte upload creates the file and then answers 408 after ``command_timeout``
  (``base64 -d`` waits for a stdin never closed).
* The real SSH client reads at most ``max_ops_file_size`` bytes of a command's output, and its stderr
  to the end, under one timeout (:func:`output_verdict`): an output reaching the limit answers 413,
  but only while the rest fits in the SSH channel window (:data:`SSH_CHANNEL_WINDOW`) so that the
  command can end; a longer one blocks the command until the timeout, 408. ``ops/download`` outputs
  the file in base64 (:func:`base64_length`); ``ops/view`` runs ``dd bs=size skip=offset/size
  count=2``, so two blocks (:func:`dd_output_range`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import hashlib
import os
import pwd
import re
import stat
import time
from typing import Any

from .access import EXECUTE, READ, allowed, reason, require_access, stat_path
from .errors import FirecrestHTTPError, RemoteCommandError
from .settings import DemoSettings

BUFFER_MESSAGE = 'Command output exceeded buffer limit.'
DEFAULT_LINES = 10


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
            raise RemoteCommandError(f"ls: cannot access '{full}': {reason(exc)}", 1) from exc
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
        st = stat_path(settings, path, follow=options.dereference)
    except OSError as exc:
        raise RemoteCommandError(f"ls: cannot access '{path}': {reason(exc)}", 2) from exc
    if not stat.S_ISDIR(st.st_mode):
        target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
        return [ls_entry(path, st, target, options.numeric_uid)]
    return _list_directory(path, '', options, 2, set())


def stat_fields(settings: DemoSettings, path: str, dereference: bool) -> dict[str, int]:
    """``stat`` of ``path`` (of the link itself unless ``dereference``), as the real server's integers."""
    try:
        st = stat_path(settings, path, follow=dereference)
    except OSError as exc:
        raise RemoteCommandError(f"stat: cannot statx '{path}': {reason(exc)}") from exc
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
        raise RemoteCommandError(f"{tool}: cannot open '{path}' for reading: {reason(exc)}") from exc


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
        st = stat_path(settings, path, follow=False)
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
        return f"cannot open `{path}' ({reason(exc)})"
    for magic, description in _MAGIC:
        if sample.startswith(magic):
            return description
    if len(sample) >= 262 and sample[257:262] == b'ustar':
        return 'POSIX tar archive (GNU)'
    return _text_description(sample)


def checksum(settings: DemoSettings, path: str, user: str) -> dict[str, str]:
    try:
        require_access(settings, path, READ)
        digest = hashlib.sha256()
        with open(path, 'rb') as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b''):
                digest.update(chunk)
    except OSError as exc:
        raise RemoteCommandError(f'sha256sum: {path}: {reason(exc)}') from exc
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
        raise RemoteCommandError(f'base64: {path}: {reason(exc)}') from exc
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
        raise RemoteCommandError(f"dd: failed to open '{path}': {reason(exc)}") from exc
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
