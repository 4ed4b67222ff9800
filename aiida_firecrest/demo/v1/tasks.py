"""FirecREST v1's tasks: every long operation answers a task id at once; ``/tasks`` tells how it goes.

Statuses are strings, as on the server (``src/common/async_task.py``): 100 queued, 101 in progress,
200 done, 400 failed; an object-store upload goes 110, 111 (its form URL is ready), 112-114 (115 on
error), a download 116, 117 (its URL is ready; 118 on error). ``GET /tasks/{id}`` answers
``{"task": ...}``, ``GET /tasks/?tasks=a,b`` ``{"tasks": {id: ...}}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ..auth import CurrentUser
from .errors import V1Error

__all__ = ('FINAL_STATUSES', 'Task', 'TaskStore', 'router')

QUEUED, PROGRESS, SUCCESS, ERROR = '100', '101', '200', '400'
DESCRIPTIONS = {
    '100': 'Queued',
    '101': 'In progress',
    '200': 'Finished successfully',
    '300': 'Deleted on request',
    '400': 'Finished with errors',
    '110': 'Waiting for Form URL from Object Storage to be retrieved',
    '111': 'Form URL from Object Storage received',
    '112': 'Object Storage confirms that upload to Object Storage has finished',
    '113': 'Download from Object Storage to server has started',
    '114': 'Download from Object Storage to server has finished',
    '115': 'Download from Object Storage error',
    '116': 'Started upload from filesystem to Object Storage',
    '117': 'Upload from filesystem to Object Storage has finished succesfully',
    '118': 'Upload from filesystem to Object Storage has finished with errors',
}
FINAL_STATUSES = frozenset({SUCCESS, ERROR, '114', '115', '117', '118'})
#: Keys of a task's data the server keeps to itself (``AsyncTask.get_status``).
_PRIVATE = ('cert', 'action', 'download_url')


def _now() -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%S')


@dataclasses.dataclass
class Task:
    hash_id: str
    user: str
    service: str
    system: str
    status: str = QUEUED
    data: Any = dataclasses.field(default_factory=dict)
    created_at: str = dataclasses.field(default_factory=_now)
    updated_at: str = dataclasses.field(default_factory=_now)

    def set(self, status: str, data: Any = None) -> None:
        self.status = status
        if data is not None:
            self.data = data
        self.updated_at = _now()

    def public(self) -> dict[str, Any]:
        """The task as ``/tasks`` shows it (without the server's private keys of ``data.msg``)."""
        data = self.data
        if isinstance(data, dict) and isinstance(data.get('msg'), dict):
            data = {**data, 'msg': {k: v for k, v in data['msg'].items() if k not in _PRIVATE}}
        return {
            'task_id': self.hash_id,
            'hash_id': self.hash_id,
            'user': self.user,
            'status': self.status,
            'description': DESCRIPTIONS.get(self.status, ''),
            'data': data,
            'service': self.service,
            'system': self.system,
            'created_at': self.created_at,
            'updated_at': self.updated_at,
            'last_modify': self.updated_at,
        }


class TaskStore:
    """The tasks of one server, by their public (hash) id."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._ids = itertools.count(1)

    def create(self, user: str, service: str, system: str, data: Any = None) -> Task:
        hash_id = hashlib.md5(f'{user}-{next(self._ids)}-{time.time()}'.encode()).hexdigest()
        task = Task(hash_id, user, service, system, data={} if data is None else data)
        self._tasks[hash_id] = task
        return task

    def get(self, hash_id: str) -> Task | None:
        return self._tasks.get(hash_id)

    def of_user(self, user: str, ids: list[str] | None) -> dict[str, Task]:
        return {
            key: task
            for key, task in self._tasks.items()
            if task.user == user and (ids is None or key in ids)
        }


router = APIRouter()


def _store(request: Request) -> TaskStore:
    store: TaskStore = request.app.state.demo.tasks
    return store


Store = Annotated[TaskStore, Depends(_store)]


@router.get('/tasks/')
@router.get('/tasks')
async def list_tasks(store: Store, user: CurrentUser, tasks: str | None = None) -> dict[str, Any]:
    if tasks is not None and not tasks.strip():
        raise V1Error(400, 'Failed to retrieve tasks information', "'tasks' is empty")
    ids = None if tasks is None else tasks.split(',')
    return {'tasks': {key: task.public() for key, task in store.of_user(user, ids).items()}}


@router.get('/tasks/{task_id}')
async def get_task(task_id: str, store: Store, user: CurrentUser) -> dict[str, Any]:
    task = store.get(task_id)
    if task is None:
        raise V1Error(404, f'Task {task_id} does not exist', f'Task {task_id} does not exist')
    if task.user != user:
        raise V1Error(403, 'Operation not permitted. Invalid task owner.')
    return {'task': task.public()}
