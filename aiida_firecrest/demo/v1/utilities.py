"""``/utilities`` of FirecREST v1: direct file operations, each one command on the system, answered at once.

Forms and query parameters are named as on the server (``target_path``, ``source_path``, ``link_path``...);
answers are ``{"description": ..., "output": ...}``; a failed command is a 400 whose header says why
(:func:`.errors.command_error`). Files above ``UTILITIES_MAX_FILE_SIZE`` are refused (upload 413,
download and view 400 with ``X-Size-Limit``): they go through ``/storage``.
"""

from __future__ import annotations

import grp
import os
import pwd
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from .. import archives, changes, coreutils
from ..archives import Compression
from ..auth import CurrentUser
from ..coreutils import LsOptions
from .errors import V1Error
from .paths import checked, invalid_input, operation, run_tool, timeout_error
from .state import FormText, Machine, SourceForm, State, TargetForm, V1State

__all__ = ('router',)

router = APIRouter(prefix='/utilities')
FollowLinksQuery = Annotated[str | None, Query(alias='followLinks')]
LinkForm = Annotated[str | None, Form(alias='linkPath')]
NumericUidQuery = Annotated[str | None, Query(alias='numericUid')]
SourceQuery = Annotated[str | None, Query(alias='sourcePath')]
TargetQuery = Annotated[str | None, Query(alias='targetPath')]
#: What ``extract`` runs for each suffix (``extract_command`` of the server); others are refused.
EXTRACTIONS = {
    '.tar': Compression.none,
    '.gz': Compression.gzip,
    '.tgz': Compression.gzip,
    '.bz2': Compression.bzip2,
}


def _true(value: str | None) -> bool:
    return value is not None and value.lower() in ('true', '1', 'yes', 'y')


def _done(command: str, output: Any = '', description: str | None = None) -> dict[str, Any]:
    return {'description': description or f'Success to {command} file.', 'output': output}


def _v1_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An ``ls`` entry as the v1 server parses ``ls -l`` (snake_case keys; ``link_target`` '' if none)."""
    return {
        'name': entry['name'],
        'type': entry['type'],
        'link_target': entry.get('linkTarget') or '',
        'user': entry['user'],
        'group': entry['group'],
        'permissions': entry['permissions'],
        'last_modified': entry['lastModified'],
        'size': entry['size'],
    }


@router.get('/ls')
async def ls(
    state: State,
    machine: Machine,
    user: CurrentUser,
    target_path: TargetQuery = None,
    showhidden: str | None = None,
    numeric_uid: NumericUidQuery = None,
    recursive: str | None = None,
    follow_links: FollowLinksQuery = None,
) -> dict[str, Any]:
    path = checked(state.settings, target_path, 'targetPath', 'ls', user)
    options = LsOptions(_true(showhidden), _true(numeric_uid), _true(recursive), _true(follow_links))
    with operation('ls'):
        entries = coreutils.list_path(state.settings, path, options)
    return _done('ls', [_v1_entry(entry) for entry in entries], 'List of contents')


@router.get('/stat')
async def stat(
    state: State,
    machine: Machine,
    user: CurrentUser,
    target_path: TargetQuery = None,
    dereference: str | None = None,
) -> dict[str, Any]:
    path = checked(state.settings, target_path, 'targetPath', 'stat', user)
    with operation('stat'):
        return _done('stat', coreutils.stat_fields(state.settings, path, _true(dereference)))


@router.get('/file')
async def file_type(
    state: State, machine: Machine, user: CurrentUser, target_path: TargetQuery = None
) -> dict[str, Any]:
    path = checked(state.settings, target_path, 'targetPath', 'file', user)
    return _done('file', coreutils.file_type(state.settings, path))


@router.get('/checksum')
async def checksum(
    state: State, machine: Machine, user: CurrentUser, target_path: TargetQuery = None
) -> dict[str, Any]:
    path = checked(state.settings, target_path, 'targetPath', 'checksum', user)
    with operation('checksum'):
        return _done('checksum', coreutils.checksum(state.settings, path, user)['checksum'])


@router.get('/whoami')
async def whoami(
    state: State, machine: Machine, user: CurrentUser, groups: str | None = None
) -> dict[str, Any]:
    if not _true(groups):
        return _done('whoami', user, 'User information')
    uid, gid = os.getuid(), os.getgid()
    own = [gid, *(other for other in os.getgroups() if other != gid)]
    described = [{'name': _group_name(number), 'id': str(number)} for number in own]
    output = {
        'user': {'name': pwd.getpwuid(uid).pw_name, 'id': str(uid)},
        'group': described[0],
        'groups': described,
    }
    return _done('whoami', output, 'User information')


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _check_size(state: State, path: str, command: str, description: str) -> int:
    """The file's size (``stat --dereference -c %s``); 400 with ``X-Size-Limit`` above the limit."""
    with operation(command):
        size = coreutils.stat_fields(state.settings, path, dereference=True)['size']
    if size > state.settings.max_ops_file_size:
        raise V1Error(400, description, headers={'X-Size-Limit': 'File exceeds size limit'})
    return size


@router.get('/view')
async def view(
    state: State, machine: Machine, user: CurrentUser, target_path: TargetQuery = None
) -> dict[str, Any]:
    """The server runs ``head`` without options: the file's first 10 lines."""
    path = checked(state.settings, target_path, 'targetPath', 'view', user)
    _check_size(state, path, 'view', 'Failed to view file content')
    with operation('head'):
        data = coreutils.read_file(state.settings, path, 'head')
    return _done(
        'head', coreutils.head_content(data, coreutils.DEFAULT_LINES, False).decode(errors='replace')
    )


@router.get('/head')
async def head(
    state: State,
    machine: Machine,
    user: CurrentUser,
    target_path: TargetQuery = None,
    lines: int | None = None,
    bytes: int | None = None,
) -> dict[str, Any]:
    path = checked(state.settings, target_path, 'targetPath', 'head', user)
    if lines is not None and bytes is not None:
        raise V1Error(400, 'Error on head operation', "Can not specify both 'bytes' and 'lines'")
    with operation('head'):
        data = coreutils.read_file(state.settings, path, 'head')
    count, by_bytes = (bytes, True) if bytes is not None else (lines or coreutils.DEFAULT_LINES, False)
    return _done('head', coreutils.head_content(data, count, by_bytes).decode(errors='replace'))


@router.get('/download')
async def download(
    state: State, machine: Machine, user: CurrentUser, source_path: SourceQuery = None
) -> Response:
    path = checked(state.settings, source_path, 'sourcePath', 'download', user)
    size = _check_size(state, path, 'fsize', 'Failed to download file')
    content = b''
    if size:
        with operation('base64'):
            coreutils.base64_input_size(state.settings, path)
            content = coreutils.read_range(path, 0, size)
    disposition = f"attachment; filename*=UTF-8''{quote(os.path.basename(path), safe='')}"
    return Response(
        content, media_type='application/octet-stream', headers={'Content-Disposition': disposition}
    )


@router.post('/upload', status_code=201)
async def upload(
    state: State,
    machine: Machine,
    user: CurrentUser,
    file: Annotated[UploadFile | None, File()] = None,
    target_path: TargetForm = None,
) -> dict[str, Any]:
    directory = checked(state.settings, target_path, 'targetPath', 'upload', user)
    if file is None or not file.filename:
        raise V1Error(400, 'Failed to upload file', 'No file in query')
    if invalid_input(file.filename):
        raise V1Error(400, 'Failed to upload file', f'Filename {invalid_input(file.filename)}')
    content = await file.read()
    limit = state.settings.max_ops_file_size
    if len(content) > limit:
        raise V1Error(413, f'Failed to upload file. The file is over {limit} bytes')
    with operation('upload'):
        changes.write_upload(state.settings, os.path.join(directory, file.filename), content)
    return _done('upload', description='File upload successful')


@router.post('/mkdir', status_code=201)
async def mkdir(
    state: State, machine: Machine, user: CurrentUser, target_path: TargetForm = None, p: FormText = None
) -> dict[str, Any]:
    path = checked(state.settings, target_path, 'targetPath', 'mkdir', user)
    with operation('mkdir'):
        changes.make_directory(state.settings, path, parent=p is not None)
    return _done('mkdir')


@router.delete('/rm', status_code=204)
async def rm(state: State, machine: Machine, user: CurrentUser, target_path: TargetForm = None) -> Response:
    path = checked(state.settings, target_path, 'targetPath', 'rm', user)
    with operation('rm'):
        changes.remove(state.settings, path)
    return Response(status_code=204)


@router.put('/chmod')
async def chmod(
    state: State, machine: Machine, user: CurrentUser, target_path: TargetForm = None, mode: FormText = None
) -> dict[str, Any]:
    path = checked(state.settings, target_path, 'targetPath', 'chmod', user)
    if not mode:
        raise V1Error(400, 'Error on chmod operation', "'mode' not specified")
    with operation('chmod'):
        changes.change_mode(state.settings, path, mode)
    return _done('chmod', f"mode of '{path}' changed to {mode}", 'Success to chmod file or directory.')


@router.put('/chown')
async def chown(
    state: State,
    machine: Machine,
    user: CurrentUser,
    target_path: TargetForm = None,
    owner: FormText = None,
    group: FormText = None,
) -> dict[str, Any]:
    path = checked(state.settings, target_path, 'targetPath', 'chown', user)
    if not owner and not group:
        raise V1Error(400, 'Error in chown operation', 'group or owner must be set')
    with operation('chown'):
        changes.change_owner(state.settings, path, owner or '', group or '')
    return _done('chown', f"ownership of '{path}' retained", 'Success to chown file or directory.')


@router.post('/symlink', status_code=201)
async def symlink(
    state: State,
    machine: Machine,
    user: CurrentUser,
    target_path: TargetForm = None,
    link_path: LinkForm = None,
) -> dict[str, Any]:
    target = checked(state.settings, target_path, 'targetPath', 'symlink', user)
    link = checked(state.settings, link_path, 'linkPath', 'symlink', user)
    with operation('symlink'):
        changes.make_symlink(state.settings, target, link)
    return _done('symlink')


async def _tool(state: V1State, command: str, argv: list[str]) -> None:
    with operation(command):
        try:
            await run_tool(argv, state.settings.command_timeout)
        except TimeoutError:
            raise timeout_error(command) from None


@router.put('/rename')
async def rename(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
) -> dict[str, Any]:
    source = checked(state.settings, source_path, 'sourcePath', 'rename', user)
    target = checked(state.settings, target_path, 'targetPath', 'rename', user)
    await _tool(state, 'rename', ['mv', '--force', '--', source, target])
    return _done('rename')


@router.post('/copy', status_code=201)
async def copy(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
) -> dict[str, Any]:
    source = checked(state.settings, source_path, 'sourcePath', 'copy', user)
    target = checked(state.settings, target_path, 'targetPath', 'copy', user)
    await _tool(state, 'copy', ['cp', '--force', '-dR', '--preserve=all', '--', source, target])
    return _done('copy')


@router.post('/compress', status_code=201)
async def compress(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
    dereference: FormText = None,
) -> dict[str, Any]:
    """``tar -czvf target -C dirname(source) basename(source)``: gzip always.

    ``-v`` writes every member's name: once that listing fills the server's SSH window
    (``max_ops_file_size``), the command stalls until its timeout, and the answer is the window's error.
    """
    source = checked(state.settings, source_path, 'sourcePath', 'compress', user)
    target = checked(state.settings, target_path, 'targetPath', 'compress', user)
    if _listing_size(source) >= state.settings.max_ops_file_size:
        message = f'Command output exceeded buffer limit ({state.settings.max_ops_file_size})'
        raise V1Error(400, 'Error on compress operation', message, {'X-Error': message})
    with operation('compress'):
        archives.compress(
            state.settings,
            source,
            target,
            match_pattern=None,
            dereference=_true(dereference),
            compression=Compression.gzip,
        )
    return _done('compress')


def _listing_size(source: str) -> int:
    """The bytes ``tar -v`` writes for ``source``: each member's name relative to its parent, a line each."""
    parent = os.path.dirname(source.rstrip('/'))
    size = len(os.path.relpath(source, parent)) + 2
    for root, directories, files in os.walk(source):
        for name in [*directories, *files]:
            size += len(os.path.relpath(os.path.join(root, name), parent)) + 2
    return size


def extraction(source: str, kind: str | None, command: str) -> Compression:
    """How ``extract_command`` reads ``source``: by ``type``, or (``auto``) by the file's suffix."""
    suffix = os.path.splitext(source)[1] if kind in (None, 'auto') else kind
    if suffix not in EXTRACTIONS:
        raise V1Error(400, f'Error on {command} operation', f'Unsupported file format in {source}.')
    return EXTRACTIONS[suffix]


@router.post('/extract', status_code=201)
async def extract(
    state: State,
    machine: Machine,
    user: CurrentUser,
    source_path: SourceForm = None,
    target_path: TargetForm = None,
    type: FormText = None,
) -> dict[str, Any]:
    """The server reads ``type`` (pyfirecrest sends ``extension``, which it ignores: ``auto``)."""
    source = checked(state.settings, source_path, 'sourcePath', 'extract', user)
    target = checked(state.settings, target_path, 'targetPath', 'extract', user)
    compression = extraction(source, type, 'extract')
    with operation('extract'):
        archives.extract(state.settings, source, target, compression)
    return _done('extract')
