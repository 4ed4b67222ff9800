"""Demo server: the ``/filesystem/{system_name}/ops/*`` endpoints, on this machine's file systems.

Each route checks its path as the real server does (:func:`~.access.check_path`), runs the
command's Python stand-in from :mod:`.coreutils`, :mod:`.changes` or :mod:`.archives` and answers
with the real server's shape, or with the HTTP error the real server derives from the command's
stderr (exchanges ``09``-``24``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response

from .access import check_path
from .archives import Compression, compress, extract
from .auth import CurrentUser, SystemName
from .changes import change_mode, change_owner, make_directory, make_symlink, remove, write_upload
from .coreutils import (
    BUFFER_MESSAGE,
    DEFAULT_LINES,
    LsOptions,
    base64_input_size,
    base64_length,
    checksum,
    command_output,
    dd_input_size,
    dd_output_range,
    describe,
    file_type,
    head_content,
    list_path,
    output_verdict,
    read_file,
    read_range,
    stat_fields,
    tail_content,
)
from .errors import FirecrestHTTPError, command_timeout_error, remote_errors
from .routing import CamelModel, Settings, no_content, source_path_field
from .settings import DemoSettings

router = APIRouter(prefix='/filesystem/{system_name}/ops')

#: ``ops/view``'s default ``size`` on the real server: a constant, refused (400) where ``max_ops_file_size``
#: is smaller.
VIEW_DEFAULT_SIZE = 5 * 1024 * 1024


# --- request bodies ------------------------------------------------------------------------------


class MakeDirRequest(CamelModel):
    source_path: str = source_path_field()
    parent: bool = False


class SymlinkRequest(CamelModel):
    source_path: str = source_path_field()
    link_path: str


class ChmodRequest(CamelModel):
    source_path: str = source_path_field()
    mode: str


class ChownRequest(CamelModel):
    source_path: str = source_path_field()
    owner: str = ''
    group: str = ''


class ExtractRequest(CamelModel):
    source_path: str = source_path_field()
    target_path: str
    compression: Compression = Compression.gzip


class CompressRequest(ExtractRequest):
    match_pattern: str | None = None
    dereference: bool = False


# --- routes --------------------------------------------------------------------------------------

PathQuery = Annotated[str, Query()]


@router.get('/ls')
def get_ls(
    settings: Settings,
    system: SystemName,
    user: CurrentUser,
    path: PathQuery,
    show_hidden: Annotated[bool, Query(alias='showHidden')] = False,
    numeric_uid: Annotated[bool, Query(alias='numericUid')] = False,
    recursive: bool = False,
    dereference: bool = False,
) -> dict[str, Any]:
    check_path(settings, path, user)
    options = LsOptions(show_hidden, numeric_uid, recursive, dereference)
    with remote_errors(user):
        return {'output': list_path(settings, path, options)}


@router.get('/stat')
def get_stat(
    settings: Settings, system: SystemName, user: CurrentUser, path: PathQuery, dereference: bool = False
) -> dict[str, Any]:
    check_path(settings, path, user)
    with remote_errors(user):
        return {'output': stat_fields(settings, path, dereference)}


@dataclasses.dataclass
class FilePart:
    """The query of ``ops/head`` and ``ops/tail``: a file, and how many bytes or lines of it."""

    path: str
    file_bytes: int | None
    lines: int | None

    @property
    def by_bytes(self) -> bool:
        return bool(self.file_bytes)

    @property
    def count(self) -> int | None:
        return self.file_bytes or self.lines


def file_part(
    path: PathQuery,
    file_bytes: Annotated[int | None, Query(alias='bytes')] = None,
    lines: int | None = None,
) -> FilePart:
    return FilePart(path, file_bytes, lines)


PartQuery = Annotated[FilePart, Depends(file_part)]


def _read_part(settings: DemoSettings, user: str, part: FilePart, tool: str) -> bytes:
    """The file ``head`` or ``tail`` (``tool``) reads, once the request passed the real server's checks."""
    check_path(settings, part.path, user)
    if part.file_bytes and part.lines:
        raise FirecrestHTTPError(400, 'Only one of `bytes` or `lines` can be specified.', user=user)
    with remote_errors(user):
        return read_file(settings, part.path, tool)


def _part_answer(
    settings: DemoSettings, user: str, content: bytes, part: FilePart, start: int, end: int
) -> dict[str, Any]:
    """The head/tail answer: the content and the positions the real server reports (sic, see its README)."""
    return {
        'output': {
            'content': command_output(settings, content, user),
            'contentType': 'bytes' if part.by_bytes else 'lines',
            'startPosition': start,
            'endPosition': end,
        }
    }


@router.get('/head')
def get_head(
    settings: Settings,
    system: SystemName,
    user: CurrentUser,
    part: PartQuery,
    skip_trailing: Annotated[bool, Query(alias='skipTrailing')] = False,
) -> dict[str, Any]:
    data = _read_part(settings, user, part, 'head')
    count = part.count
    end = DEFAULT_LINES if count is None else (-count if skip_trailing else count)
    return _part_answer(settings, user, head_content(data, end, part.by_bytes), part, 0, end)


@router.get('/tail')
def get_tail(
    settings: Settings,
    system: SystemName,
    user: CurrentUser,
    part: PartQuery,
    skip_heading: Annotated[bool, Query(alias='skipHeading')] = False,
) -> dict[str, Any]:
    data = _read_part(settings, user, part, 'tail')
    count = part.count
    content = tail_content(data, count or DEFAULT_LINES, part.by_bytes, skip_heading and count is not None)
    start = DEFAULT_LINES if count is None else (count if skip_heading else -count)
    return _part_answer(settings, user, content, part, start, -1)


@router.get('/view')
async def get_view(
    settings: Settings,
    system: SystemName,
    user: CurrentUser,
    path: PathQuery,
    size: int = VIEW_DEFAULT_SIZE,
    offset: int = 0,
) -> dict[str, Any]:
    """``dd bs=size skip=offset/size count=2``; of its output, ``size`` characters from ``offset % size``."""
    check_path(settings, path, user)
    limit = settings.max_ops_file_size
    if offset < 0:
        raise FirecrestHTTPError(
            400, '`offset` value must be an integer value equal or greater than 0', user=user
        )
    if size <= 0:
        raise FirecrestHTTPError(400, '`size` value must be an integer value greater than 0', user=user)
    if size > limit:
        raise FirecrestHTTPError(400, f'`size` value must be less than {limit} bytes', user=user)
    with remote_errors(user):
        file_size = dd_input_size(settings, path)
    start, length = dd_output_range(file_size, size, offset)
    await _ssh_output(settings, length, user)
    text = (await asyncio.to_thread(read_range, path, start, length)).decode('utf-8', errors='replace')
    first = offset % size
    return {'output': text[first : first + size]}


async def _ssh_output(settings: DemoSettings, size: int, user: str) -> None:
    """Answer as the real server does for a command writing ``size`` bytes (see :func:`output_verdict`)."""
    verdict = output_verdict(settings, size)
    if verdict == 413:
        raise FirecrestHTTPError(413, BUFFER_MESSAGE, user=user)
    if verdict == 408:
        await asyncio.sleep(settings.command_timeout)
        raise command_timeout_error(user)


@router.get('/checksum')
def get_checksum(
    settings: Settings, system: SystemName, user: CurrentUser, path: PathQuery
) -> dict[str, Any]:
    check_path(settings, path, user)
    with remote_errors(user):
        return {'output': checksum(settings, path, user)}


@router.get('/file')
def get_file(settings: Settings, system: SystemName, user: CurrentUser, path: PathQuery) -> dict[str, Any]:
    check_path(settings, path, user)
    return {'output': file_type(settings, path)}


@router.put('/chmod')
def put_chmod(
    settings: Settings, system: SystemName, user: CurrentUser, body: ChmodRequest
) -> dict[str, Any]:
    check_path(settings, body.source_path, user)
    with remote_errors(user):
        change_mode(settings, body.source_path, body.mode)
    return {'output': describe(body.source_path)}


@router.put('/chown')
def put_chown(
    settings: Settings, system: SystemName, user: CurrentUser, body: ChownRequest
) -> dict[str, Any]:
    check_path(settings, body.source_path, user)
    with remote_errors(user):
        change_owner(settings, body.source_path, body.owner, body.group)
    return {'output': describe(body.source_path)}


@router.delete('/rm', status_code=204)
def delete_rm(settings: Settings, system: SystemName, user: CurrentUser, path: PathQuery) -> Response:
    check_path(settings, path, user)
    with remote_errors(user):
        remove(settings, path)
    return no_content()


@router.post('/mkdir', status_code=201)
def post_mkdir(
    settings: Settings, system: SystemName, user: CurrentUser, body: MakeDirRequest
) -> dict[str, Any]:
    check_path(settings, body.source_path, user)
    with remote_errors(user):
        make_directory(settings, body.source_path, body.parent)
    return {'output': describe(body.source_path)}


@router.post('/symlink', status_code=201)
def post_symlink(
    settings: Settings, system: SystemName, user: CurrentUser, body: SymlinkRequest
) -> dict[str, Any]:
    check_path(settings, body.source_path, user)
    check_path(settings, body.link_path, user)
    with remote_errors(user):
        make_symlink(settings, body.source_path, body.link_path)
    return {'output': describe(body.link_path)}


@router.get('/download')
async def get_download(
    settings: Settings, system: SystemName, user: CurrentUser, path: PathQuery
) -> Response:
    """``base64 --wrap=0`` of the file, decoded by the server (its output is 4 bytes per 3 of the file)."""
    check_path(settings, path, user)
    with remote_errors(user):
        size = base64_input_size(settings, path)
    await _ssh_output(settings, base64_length(size), user)
    data = await asyncio.to_thread(read_range, path, 0, size)
    return Response(content=data, media_type='application/octet-stream')


@router.post('/upload', status_code=204)
async def post_upload(
    settings: Settings,
    system: SystemName,
    user: CurrentUser,
    path: PathQuery,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Write ``{path}/{filename}``: the query ``path`` is the target directory (see the module docstring)."""
    check_path(settings, path, user)
    target = f'{path}/{file.filename}'
    check_path(settings, target, user)
    content = await file.read()
    if len(content) > settings.max_ops_file_size:
        raise FirecrestHTTPError(413, 'File to upload is too large.', user=user)
    with remote_errors(user):
        await asyncio.to_thread(write_upload, settings, target, content)
    if not content:
        await asyncio.sleep(settings.command_timeout)
        raise command_timeout_error(user)
    return no_content()


@router.post('/compress', status_code=204)
def post_compress(
    settings: Settings, system: SystemName, user: CurrentUser, body: CompressRequest
) -> Response:
    check_path(settings, body.source_path, user)
    check_path(settings, body.target_path, user)
    with remote_errors(user):
        compress(
            settings,
            body.source_path,
            body.target_path,
            match_pattern=body.match_pattern,
            dereference=body.dereference,
            compression=body.compression,
        )
    return no_content()


@router.post('/extract', status_code=204)
def post_extract(settings: Settings, system: SystemName, user: CurrentUser, body: ExtractRequest) -> Response:
    check_path(settings, body.source_path, user)
    check_path(settings, body.target_path, user)
    with remote_errors(user):
        extract(settings, body.source_path, body.target_path, body.compression)
    return no_content()
