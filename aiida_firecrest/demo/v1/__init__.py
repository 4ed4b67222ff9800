"""The demo server's FirecREST v1 API: ``python firecrest_demo.py serve --api v1``.

FirecREST 1.x (eth-cscs/firecrest, last release 1.16.x) is a set of Flask micro-services behind one
gateway: ``/status``, ``/utilities`` (direct file operations), ``/storage`` (object-store transfers and
``xfer``-partition jobs), ``/compute`` (Slurm) and ``/tasks`` (every long operation is a task polled
until its status is final). The system is named by the ``X-Machine-Name`` header, and errors are
``{"description": ..., "error": ...}`` with a header saying what kind of error it is (``X-Invalid-Path``,
``X-Not-Found``, ``X-Permission-Denied``...).

The modules here answer as that server does, on this machine: they reuse the v2 demo's settings, token
endpoint, command emulation (:mod:`..coreutils`), job runner (:mod:`..jobs`) and S3 helpers (:mod:`..s3`).
"""
