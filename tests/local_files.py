"""The calls the suite's fixtures make of pyfirecrest's v2 sync client, done on the demo's local file systems.

A v1 demo server (``--firecrest-api v1``) has no v2 endpoints for the fixtures' set-up and checks, and its
file systems are directories of this machine: :class:`LocalFiles` does what those calls would.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import Any


class LocalFiles:
    """``mkdir``, ``upload``, ``extract``, ``rm``, ``chmod``, ``stat``, ``list_files``, ``compress``,
    ``view``, ``download`` and ``userinfo`` with the signatures of ``firecrest.v2.Firecrest``, on local
    paths."""

    def mkdir(self, system: str, path: str, create_parents: bool = False) -> None:
        Path(path).mkdir(parents=create_parents, exist_ok=create_parents)

    def upload(self, system: str, local: Any, directory: str, name: str, **_: Any) -> None:
        """``local`` is a path or, as pyfirecrest also takes, a binary file object."""
        target = os.path.join(directory, name)
        if hasattr(local, 'read'):
            with open(target, 'wb') as out:
                shutil.copyfileobj(local, out)
        else:
            shutil.copyfile(local, target)

    def extract(self, system: str, archive: str, directory: str, **_: Any) -> None:
        with tarfile.open(archive) as bundle:
            bundle.extractall(directory, filter='tar')

    def compress(self, system: str, source: str, archive: str, **_: Any) -> None:
        with tarfile.open(archive, 'w:gz') as bundle:
            bundle.add(source, arcname=os.path.basename(source.rstrip('/')))

    def view(self, system: str, path: str) -> str:
        return Path(path).read_text()

    def download(self, system: str, remote: str, local: str, **_: Any) -> None:
        shutil.copyfile(remote, local)

    def rm(self, system: str, path: str, **_: Any) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def chmod(self, system: str, path: str, mode: str) -> None:
        os.chmod(path, int(mode, 8))

    def stat(self, system: str, path: str, dereference: bool = False) -> dict[str, int]:
        """Of a missing path: pyfirecrest's error for a 404, which the harness looks for."""
        import httpx
        from firecrest import FirecrestException

        try:
            result = os.stat(path) if dereference else os.lstat(path)
        except FileNotFoundError:
            raise FirecrestException([httpx.Response(404)]) from None
        return {'mode': result.st_mode, 'size': result.st_size, 'uid': result.st_uid, 'gid': result.st_gid}

    def list_files(self, system: str, path: str, show_hidden: bool = False, **_: Any) -> list[dict[str, Any]]:
        names = sorted(os.listdir(path))
        return [
            {'name': name, 'type': 'd' if stat.S_ISDIR(entry.st_mode) else '-', 'user': _owner(entry.st_uid)}
            for name, entry in ((name, os.lstat(os.path.join(path, name))) for name in names)
            if show_hidden or not name.startswith('.')
        ]

    def userinfo(self, system: str) -> dict[str, Any]:
        import grp
        import pwd

        uid, gid = os.getuid(), os.getgid()
        group = {'id': str(gid), 'name': grp.getgrgid(gid).gr_name}
        return {
            'user': {'id': str(uid), 'name': pwd.getpwuid(uid).pw_name},
            'group': group,
            'groups': [group],
        }

    def close_session(self) -> None:
        """Nothing to close."""


def _owner(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
