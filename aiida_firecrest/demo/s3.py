"""The demo server's S3 side: presigned multipart URLs for staged transfers, and moto as the endpoint.

The real FirecREST hands clients presigned URLs of an S3 bucket and moves data between the bucket
and the cluster in a batch job. Here the endpoint is moto's standalone server on 127.0.0.1;
``python -m aiida_firecrest.demo.s3 --ready-file FILE`` runs it on a free port (the launcher does).
"""

from __future__ import annotations

import argparse
import math
import signal
from pathlib import Path
from typing import Any, TypeAlias

import boto3
from botocore.config import Config

S3Client: TypeAlias = Any
"""A boto3 S3 client (:func:`make_client`); boto3 ships no type annotations, so to mypy it is ``Any``."""

URL_EXPIRY = 604800
"""Lifetime of presigned URLs in seconds (as recorded: ``X-Amz-Expires=604800``)."""


def make_client(endpoint: str) -> S3Client:
    """A boto3 S3 client for the moto endpoint (any static credentials work with moto)."""
    return boto3.client(
        's3',
        endpoint_url=endpoint,
        aws_access_key_id='firecrest-demo',
        aws_secret_access_key='firecrest-demo',
        region_name='us-east-1',
        config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}),
    )


def ensure_bucket(client: S3Client, bucket: str) -> None:
    """Create ``bucket`` unless it exists."""
    existing = {entry['Name'] for entry in client.list_buckets().get('Buckets', [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def presigned_upload(
    client: S3Client, bucket: str, key: str, size: int, max_part_size: int
) -> dict[str, Any]:
    """Start a multipart upload; the ``transferDirectives`` a client needs to complete it."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)['UploadId']
    parts = max(1, math.ceil(size / max_part_size))
    part_urls = [
        client.generate_presigned_url(
            'upload_part',
            Params={'Bucket': bucket, 'Key': key, 'UploadId': upload_id, 'PartNumber': number},
            ExpiresIn=URL_EXPIRY,
        )
        for number in range(1, parts + 1)
    ]
    complete_url = client.generate_presigned_url(
        'complete_multipart_upload',
        Params={'Bucket': bucket, 'Key': key, 'UploadId': upload_id},
        ExpiresIn=URL_EXPIRY,
        HttpMethod='POST',
    )
    return {
        'transferMethod': 's3',
        'partsUploadUrls': part_urls,
        'completeUploadUrl': complete_url,
        'maxPartSize': max_part_size,
    }


def presigned_download(client: S3Client, bucket: str, key: str) -> str:
    """A presigned GET URL of ``key`` (valid before the object exists)."""
    url: str = client.generate_presigned_url(
        'get_object', Params={'Bucket': bucket, 'Key': key}, ExpiresIn=URL_EXPIRY
    )
    return url


def object_size(client: S3Client, bucket: str, key: str) -> int | None:
    """The size of the object ``key``, or None while it does not exist."""
    try:
        return int(client.head_object(Bucket=bucket, Key=key)['ContentLength'])
    except client.exceptions.ClientError:
        return None


def read_object(client: S3Client, bucket: str, key: str) -> bytes:
    """The content of the object ``key``."""
    content: bytes = client.get_object(Bucket=bucket, Key=key)['Body'].read()
    return content


def upload_multipart(client: S3Client, bucket: str, key: str, source: Path, part_size: int) -> list[str]:
    """Upload ``source`` as a multipart object in parts of ``part_size`` bytes; the parts' ETags."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)['UploadId']
    parts = []
    with source.open('rb') as stream:
        number = 1
        while True:
            chunk = stream.read(part_size)
            if not chunk and number > 1:
                break
            answer = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
            )
            parts.append({'PartNumber': number, 'ETag': answer['ETag']})
            if len(chunk) < part_size:
                break
            number += 1
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={'Parts': parts}
    )
    return [part['ETag'].strip('"') for part in parts]


def main(argv: list[str] | None = None) -> None:
    """Run moto's S3 server on 127.0.0.1 until SIGTERM or SIGINT."""
    from moto.server import ThreadedMotoServer

    from .launcher import exit_with_parent, write_ready_file

    parser = argparse.ArgumentParser(description="Serve moto's S3 endpoint on 127.0.0.1.")
    parser.add_argument('--port', type=int, default=0, help='TCP port (default: a free one)')
    parser.add_argument('--ready-file', type=Path, help='write {"port": N} here once listening')
    args = parser.parse_args(argv)

    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    server = ThreadedMotoServer(ip_address='127.0.0.1', port=args.port, verbose=False)
    server.start()
    if args.ready_file is not None:
        write_ready_file(args.ready_file, {'port': server.get_host_and_port()[1]})
        exit_with_parent()
    signal.sigwait(stop_signals)
    server.stop()


if __name__ == '__main__':
    main()
