"""Remote paths: the ones the server cannot handle, refused before any request, and containment.

Nothing here sends a request.
"""

from __future__ import annotations

__all__ = (
    'FORBIDDEN_CHARACTERS',
    'JOB_ESCAPED_CHARACTERS',
    'check_job_path',
    'check_remote_path',
    'is_within',
)

#: Characters the server cannot handle in a path given to it, with what to do instead.
FORBIDDEN_CHARACTERS = {
    "'": (
        "single quote (')",
        'the server builds shell commands quoted with it. Rename the file, or move it inside a directory '
        'that is transferred as a whole (a tree)',
    ),
    '\0': ('NUL character', 'no file name can contain it'),
}
#: Characters the templates of the server's copy and move jobs write as HTML entities (jinja's autoescape:
#: ``a&b`` becomes ``a&amp;b``), so that such a job works on another path than the one asked for.
JOB_ESCAPED_CHARACTERS = '&<>"'


def check_remote_path(path: str) -> str:
    """Refuse, before any request, a path the server would mishandle; return it unchanged.

    :raises ValueError: naming the character, if the path contains one the server cannot handle.
    """
    for char, (description, advice) in FORBIDDEN_CHARACTERS.items():
        if char in path:
            raise ValueError(
                f'FirecREST cannot handle the {description} in the remote path {path!r}: {advice}.'
            )
    return path


def check_job_path(path: str) -> str:
    """Refuse, before any request, a path that the server's copy and move jobs would alter; return it.

    :raises ValueError: naming the characters, if the path contains any of :data:`JOB_ESCAPED_CHARACTERS`.
    """
    found = sorted(set(path) & set(JOB_ESCAPED_CHARACTERS))
    if found:
        raise ValueError(
            f'FirecREST cannot copy or move {path!r} on the server: its copy and move jobs write '
            f'{" ".join(found)} as HTML entities (a&b becomes a&amp;b). Download and upload it instead, '
            'or copy a directory above it whose path has none of them.'
        )
    return path


def is_within(path: str, root: str) -> bool:
    """Whether the absolute path ``path`` is ``root`` or inside it (``/`` holds every absolute path)."""
    root = root.rstrip('/') or '/'
    return path == root or path.startswith(root if root == '/' else root + '/')
