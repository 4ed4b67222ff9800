"""FirecREST v1's error answers: ``{"description", "error"}`` and the header naming the kind of error.

:func:`command_error` follows ``check_command_error`` of the v1 server's ``cscs_api_common.py``: every
failed remote command answers 400, and the command's stderr decides the header.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

__all__ = ('V1Error', 'command_error', 'machine_missing', 'machine_unknown')


class V1Error(Exception):
    """An error answer of the v1 API.

    :param description: what failed (``Error on ls operation``).
    :param error: why, when the server says it (a command's stderr, for instance).
    :param headers: the error-kind header (``{"X-Invalid-Path": "path is an invalid path"}``).
    """

    def __init__(
        self, status: int, description: str, error: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description if error is None else f'{description}: {error}')
        self.status = status
        self.description = description
        self.error = error
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {'description': self.description}
        if self.error is not None:
            body['error'] = self.error
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _header_value(text: str) -> str:
    """A header value cannot hold line breaks (the real server sends the first line's worth)."""
    return ' '.join(text.split())[:500]


#: (stderr contains, also contains, header, header value), in the order the real server checks them.
_RULES: tuple[tuple[str, str | None, str, str], ...] = (
    ('OPENSSH', None, 'X-Permission-Denied', 'User does not have permissions to access machine'),
    ('cannot access', None, 'X-Invalid-Path', 'path is an invalid path'),
    ('No such file', 'cannot stat', 'X-Not-Found', 'sourcePath not found'),
    ('No such file', 'cannot create', 'X-Invalid-Path', 'sourcePath and/or targetPath are invalid paths'),
    ('No such file', 'cannot move', 'X-Invalid-Path', 'sourcePath and/or targetPath are invalid paths'),
    ('No such file', 'cannot remove', 'X-Invalid-Path', 'path is an invalid path.'),
    ('No such file', None, 'X-Invalid-Path', 'path is an invalid path'),
    ('cannot open', None, 'X-Permission-Denied', 'User does not have permissions to access path'),
    ('Permission denied', None, 'X-Permission-Denied', 'User does not have permissions to access path'),
    ('File exists', 'mkdir: cannot create directory', 'X-Exists', 'targetPath already exists'),
    ('File exists', 'ln: failed to create symbolic link', 'X-Exists', 'targetPath already exists'),
    ('Not a directory', None, 'X-Not-A-Directory', 'targetPath is not a directory'),
    ('directory', None, 'X-A-Directory', "path is a directory, can't checksum directories"),
    ('overwrite', None, 'X-Exists', 'targetPath already exists'),
    ('not permitted', None, 'X-Permission-Denied', 'User does not have permissions to access path'),
    ('invalid group', None, 'X-Invalid-Group', 'group is an invalid group'),
    ('invalid user', None, 'X-Invalid-Owner', 'owner is an invalid user'),
    ('invalid mode', None, 'X-Invalid-Mode', 'mode is an invalid mode'),
    ('read permission', None, 'X-Permission-Denied', 'User does not have permissions to access path'),
)


def command_error(stderr: str, description: str) -> V1Error:
    """The answer to a failed remote command whose stderr is ``stderr`` (always 400, as on the server)."""
    for needle, also, header, value in _RULES:
        if needle in stderr and (also is None or also in stderr):
            return V1Error(400, description, stderr, {header: value})
    return V1Error(400, description, stderr, {'X-Error': _header_value(stderr)})


def machine_missing() -> V1Error:
    return V1Error(400, 'No machine name given')


def machine_unknown(description: str, service: str = 'utilities') -> V1Error:
    """An unknown ``X-Machine-Name``: the utilities say it does not exist; storage and compute, in their own
    spelling, that it "does not exists"."""
    if service == 'utilities':
        return V1Error(
            400, description, 'Machine does not exist', {'X-Machine-Does-Not-Exist': 'Machine does not exist'}
        )
    return V1Error(
        400, description, 'Machine does not exists', {'X-Machine-Does-Not-Exists': 'Machine does not exists'}
    )
