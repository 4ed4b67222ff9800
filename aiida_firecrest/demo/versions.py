"""Demo server: what each FirecREST v2 release does differently, as far as a client can tell.

The demo's routers answer as the recorded server (eth-cscs/firecrest-v2 ``35e1d08`` run from source,
"2.5.7 - OPEN" in its CHANGELOG, ``f7t-appversion: 2.x.x``). ``DemoSettings.server_version`` picks
another release; :class:`~.adapter.VersionAdapter` then rewrites the request bodies and answers of the routes
where that release differs, so that the routers stay written for one server.

=========================================  ==============  ==============  ==============  =============
What a client sees                         2.2.8           2.4.2           2.5.6           2.6 (2.x.x)
=========================================  ==============  ==============  ==============  =============
``f7t-appversion`` header [1]              ``2.2.8``       ``2.4.2``       ``2.5.6``       ``2.6.0``
userinfo ``accounts`` [2]                  absent          absent          listed          listed
userinfo groups [3]                        ``group`` +     ``group`` +     ``group`` +     ``groups``
                                           ``groups``      ``groups``      ``groups``      with
                                                                                           ``default``
where ``max_ops_file_size`` is [4]         top-level       top-level       each system's   same as 2.5.6
                                           ``storage``     ``dataOperation`` ``dataOperation``
transfer/upload body [5]                   ``sourcePath``  ``sourcePath`` (the file) + ``transferDirectives``
                                           (directory) +   ``{transferMethod, fileSize}``
                                           ``fileName``,
                                           ``fileSize``
transfer/upload|download answer [6]        flat:           ``transfer-     ``transfer-     same as 2.5.6
                                           ``partsUpload-  Directives``    Directives``
                                           Urls`` ...      snake_case      camelCase
                                           beside
                                           ``transferJob``
a transfer method not offered [7]          (no methods)    accepted        400             400
staged transfer methods a system may       s3              s3, wormhole,   s3, wormhole,   same as 2.5.6
offer [8]                                                  streamer        streamer
compress/extract ``compression`` [9]       ignored: gzip   none, gzip, bzip2, xz
job ids in answers [10]                    integers        integers        strings         strings
job list default time window [11]          since midnight  7 days          7 days          24 h
``X-Request-ID``/``X-Correlation-ID`` [12] every release: echoed if the request carries them, else new
=========================================  ==============  ==============  ==============  =============

``2.x.x`` (the default, :data:`RECORDED`) behaves as 2.6 except for the header, the userinfo (``group``
+ ``groups`` + ``accounts``, as recorded) and ``name`` on the job list arriving in 2.5.7.

Sources (eth-cscs/firecrest-v2 CHANGELOG.md unless said otherwise):

1. ``src/firecrest/config.py``: ``app_version: Literal["2.5.6"] = "2.5.6"`` at tag 2.5.6 (and so on);
   ``"2.x.x"`` on master. 2.6's value is the pattern's ``2.6.0``.
2. 2.5.1: "UserInfo endpoint now also includes user's account information (only on Slurm)".
3. 2.6.0 (branch ``UserInfo-Response-Refactoring``): "Refactored UserInfo response, group and groups
   objects have been merged." (``groups: [{id, name, default}]``, no ``group``).
4. 2.3.1: "New data_operation setting to replace storage"; 2.5.0: "``data_operation`` and
   ``data_transfer`` settings are now configurable independently for each cluster" (pyfirecrest's
   ``systems()`` keeps only the systems, so a client of 2.2.8-2.4.x does not see the limit).
5. 2.4.0: "Upload and Download transfer endpoints now require to specify transfer directives".
6. 2.5.0: "Fix transfer directives serialization, now properties names are properly camelcased
   (see issue: #162)"; 2.2.8's ``UploadFileResponse`` / ``DownloadFileResponse`` are flat.
7. 2.5.0: "Returns an error if the ``transfer_method`` chosen for large data transfer is not available."
8. 2.4.0: "Support for Magic Wormhole data transfer method"; the streamer arrived in 2.4.1
   ("Firecrest streamer now computes checksums ...").
9. 2.4.0: "Compress and Extract end-points now support multiple compression types (none, bz2, gzip,
   and xz)"; 2.2.8's ``TarCommand`` runs ``tar -czvf`` / ``tar -xzf`` and its request models have no
   ``compression`` field (an unknown field is ignored).
10. 2.5.0: "Handle job arrays in PBS. Job IDs will be strings, and not integers anymore in the API
    responses" (``job_id: int`` in every model before).
11. 2.4.1: "Get jobs shows jobs up to one week" (``sacct --starttime=now-7days``; before, sacct's own
    default: since midnight); 2.5.7 / 2.6.0: "``GET /compute/{system_name}/jobs`` now defaults to a
    ``24h`` historical lookback window".
12. ``src/firecrest/main.py``: starlette-context's ``RawContextMiddleware`` with ``RequestIdPlugin`` and
    ``CorrelationIdPlugin`` since 2.2.8 (outermost: a header that is not a UUID gets an empty 400). The
    2.5.6 line "Forwarded requests now include X-Request-ID and X-Correlation-ID" is about the requests
    FirecREST itself sends on, not about its answers.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RECORDED = '2.x.x'
"""The release the routers implement: the recorded server, a source checkout of 35e1d08."""

Json = Any


@dataclasses.dataclass(frozen=True)
class ServerVersion:
    """What one FirecREST release does, where releases differ (see the module docstring's table)."""

    name: str
    app_version: str
    """The ``f7t-appversion`` header."""
    userinfo_accounts: bool
    """Whether userinfo lists the user's ``accounts``."""
    merged_groups: bool
    """Whether userinfo has only ``groups`` with a ``default`` flag (no ``group``)."""
    data_operation: str
    """Where the system's data operation settings are: ``'storage'``, ``'top-level'``, ``'per-system'``."""
    directives: str
    """How staged-transfer answers carry their directives: ``'flat'``, ``'snake'`` or ``'camel'``."""
    checks_transfer_method: bool
    """Whether a staged transfer by a method the system does not offer is refused (else it is ignored)."""
    transfer_methods: frozenset[str]
    """The staged transfer methods a system of this release can offer."""
    compression: bool
    """Whether compress and extract honour ``compression`` (else gzip, always)."""
    string_job_ids: bool
    """Whether job ids are strings in the answers (else integers)."""
    jobs_default_time_window: str | None
    """``DemoSettings.jobs_default_time_window`` of this release (None: no ``time_window``, 7 days)."""


_RECORDED = ServerVersion(
    name=RECORDED,
    app_version=RECORDED,
    userinfo_accounts=True,
    merged_groups=False,
    data_operation='per-system',
    directives='camel',
    checks_transfer_method=True,
    transfer_methods=frozenset({'s3', 'streamer', 'wormhole'}),
    compression=True,
    string_job_ids=True,
    jobs_default_time_window='24h',
)
_V2_5_6 = dataclasses.replace(_RECORDED, name='2.5.6', app_version='2.5.6', jobs_default_time_window=None)
_V2_4_2 = dataclasses.replace(
    _V2_5_6,
    name='2.4.2',
    app_version='2.4.2',
    userinfo_accounts=False,
    data_operation='top-level',
    directives='snake',
    checks_transfer_method=False,
    string_job_ids=False,
)
_V2_2_8 = dataclasses.replace(
    _V2_4_2,
    name='2.2.8',
    app_version='2.2.8',
    data_operation='storage',
    directives='flat',
    transfer_methods=frozenset({'s3'}),
    compression=False,
)
_V2_6 = dataclasses.replace(_RECORDED, name='2.6', app_version='2.6.0', merged_groups=True)

VERSIONS: dict[str, ServerVersion] = {
    version.name: version for version in (_V2_2_8, _V2_4_2, _V2_5_6, _V2_6, _RECORDED)
}
"""The releases the demo can be, by ``DemoSettings.server_version``."""


def server_version(name: str, transfer_method: str = 's3') -> ServerVersion:
    """The release called ``name``, whose systems can offer ``transfer_method``.

    :raises ValueError: for an unknown release (naming those there are), or a method it cannot offer.
    """
    version = VERSIONS.get(name)
    if version is None:
        raise ValueError(f'unknown FirecREST server version {name!r}; choose one of {", ".join(VERSIONS)}')
    if transfer_method not in version.transfer_methods:
        offered = ', '.join(sorted(version.transfer_methods))
        raise ValueError(f'FirecREST {name} offers no {transfer_method!r} transfer method (only {offered})')
    return version


def settings_for(name: str) -> dict[str, Any]:
    """The ``DemoSettings`` fields a server of release ``name`` implies (explicit fields go after these).

    :raises ValueError: for an unknown release.
    """
    return {'server_version': name, 'jobs_default_time_window': server_version(name).jobs_default_time_window}


# --- what the answers of one release look like --------------------------------------------------


def userinfo_answer(version: ServerVersion, answer: dict[str, Any]) -> dict[str, Any]:
    """The recorded userinfo (``group``, ``groups``, ``accounts``) as ``version`` gives it."""
    answer = dict(answer)
    if not version.userinfo_accounts:
        answer.pop('accounts', None)
    if version.merged_groups:
        primary = answer.pop('group')
        answer['groups'] = [
            {**group, 'default': group['name'] == primary['name']} for group in answer['groups']
        ]
    return answer


def systems_answer(version: ServerVersion, answer: dict[str, Any]) -> dict[str, Any]:
    """The recorded ``/status/systems`` (``dataOperation`` in each system) as ``version`` gives it."""
    if version.data_operation == 'per-system':
        return answer
    systems = [dict(system) for system in answer['systems']]
    operations = [system.pop('dataOperation') for system in systems]
    for system, operation in zip(systems, operations, strict=True):
        system['datatransferJobsDirectives'] = operation['datatransfer_jobs_directives']
    operation = {key: value for key, value in operations[0].items() if key != 'datatransfer_jobs_directives'}
    if version.data_operation == 'top-level':
        return {**answer, 'systems': systems, 'dataOperation': operation}
    storage = {**_snake_keys(operation.pop('data_transfer') or {}), **operation}
    storage.pop('service_type', None)
    return {**answer, 'systems': systems, 'storage': storage}


def staged_transfer_answer(version: ServerVersion, answer: dict[str, Any]) -> dict[str, Any]:
    """A recorded transfer/upload|download answer (camelCase directives) as ``version`` gives it."""
    directives = answer.get('transferDirectives')
    if directives is None or version.directives == 'camel':
        return answer
    if version.directives == 'snake':
        return {**answer, 'transferDirectives': _snake_keys(directives)}
    rest = {key: value for key, value in answer.items() if key != 'transferDirectives'}
    return {**{key: value for key, value in directives.items() if key != 'transferMethod'}, **rest}


def integer_job_ids(value: Json) -> Json:
    """``value`` with every ``jobId`` that is a number written as one (answers before 2.5.0)."""
    if isinstance(value, list):
        return [integer_job_ids(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: int(item)
        if key == 'jobId' and isinstance(item, str) and item.isdigit()
        else integer_job_ids(item)
        for key, item in value.items()
    }


def _snake_keys(mapping: dict[str, Any]) -> dict[str, Any]:
    return {re.sub(r'(?<!^)(?=[A-Z])', '_', key).lower(): value for key, value in mapping.items()}


# --- what the requests of one release look like -------------------------------------------------


class LegacyUploadRequest(BaseModel):
    """The transfer/upload body before 2.4.0: the target directory, the file's name and size."""

    model_config = ConfigDict(populate_by_name=True)

    path: str = Field(validation_alias='sourcePath')
    file_name: str = Field(validation_alias='fileName')
    file_size: int = Field(validation_alias='fileSize')
    account: str | None = None


def _legacy_path(body: dict[str, Any]) -> dict[str, Any]:
    """``source_path`` (what pyfirecrest sends) as ``sourcePath``, the one name the legacy models read."""
    if 'sourcePath' not in body and 'source_path' in body:
        body = {**body, 'sourcePath': body['source_path']}
    return body


def legacy_upload_request(body: dict[str, Any]) -> dict[str, Any]:
    """A pre-2.4.0 upload body as the routers read it (``sourcePath`` = the file, s3 directives).

    :raises ValidationError: if it lacks what 2.2.8 requires (directory, ``fileName``, ``fileSize``).
    """
    legacy = LegacyUploadRequest.model_validate(_legacy_path(body))
    return {
        'sourcePath': posixpath.join(legacy.path, legacy.file_name),
        'account': legacy.account,
        'transferDirectives': {'transferMethod': 's3', 'fileSize': legacy.file_size},
    }


def legacy_download_request(body: dict[str, Any]) -> dict[str, Any]:
    """A pre-2.4.0 download body (any ``transferDirectives`` were ignored) with s3 directives."""
    return {**body, 'transferDirectives': {'transferMethod': 's3'}}


def with_method(body: dict[str, Any], method: str) -> dict[str, Any]:
    """A staged-transfer body whose method is ``method`` (before 2.5.0 the system's own method was used,
    whatever the request named)."""
    directives = body.get('transferDirectives', body.get('transfer_directives'))
    if not isinstance(directives, dict):
        return body
    body = {key: value for key, value in body.items() if key != 'transfer_directives'}
    directives = {key: value for key, value in directives.items() if key != 'transfer_method'}
    return {**body, 'transferDirectives': {**directives, 'transferMethod': method}}


def without_compression(body: dict[str, Any]) -> dict[str, Any]:
    """A compress/extract body without ``compression`` (2.2.8 does not know it: gzip always)."""
    return {key: value for key, value in body.items() if key != 'compression'}
