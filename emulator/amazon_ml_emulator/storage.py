"""The emulator's S3 I/O: reading input data, schemas and recipes, writing batch prediction output."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# The Developer Guide's name for a schema stored beside its data: "<file>.schema", or "<folder>/.schema".
SCHEMA_SUFFIX = ".schema"


class StorageError(Exception):
    """An S3 read or write failed; the message is fit for an entity's Message."""


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` to ``(bucket, key)``."""
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key


class S3Storage:
    """
    S3 access through boto3 against one endpoint (moto's S3 server by default).

    :param endpoint_url: the S3 endpoint.
    :param region_name: the region the client signs for.
    """

    def __init__(self, endpoint_url: str, region_name: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region_name,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the local S3 server accepts any key
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def read_objects(self, location: str) -> list[tuple[str, bytes]]:
        """Read the data files a DataLocationS3 names (see :meth:`list_urls`), in key order."""
        return [(url, self.read(url)) for url in self.list_urls(location)]

    def list_urls(self, location: str) -> list[str]:
        """
        The data files a DataLocationS3 names: the object with that key, or else every object in that folder.

        The Developer Guide calls DataLocationS3 "a data file or an S3 directory or bucket", so a key that names
        no object is a folder even without its trailing ``/``: ``s3://b/new`` reads ``new/*``, never the
        sibling ``new-archive/``. Folder placeholder keys (ending in ``/``) and schema files (``.schema``, or
        ``<data file>.schema``, the Developer Guide's convention for a schema kept beside its data) are skipped.
        """
        bucket, key = split_s3_url(location)
        if key and not key.endswith("/") and self._exists(bucket, key):
            return [location]
        prefix = key if not key or key.endswith("/") else key + "/"
        return [f"s3://{bucket}/{object_key}" for object_key in self._list_keys(bucket, prefix)]

    def read(self, url: str) -> bytes:
        bucket, key = split_s3_url(url)
        try:
            return self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"cannot read {url}: {_reason(error)}") from error

    def write(self, url: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        bucket, key = split_s3_url(url)
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"cannot write {url}: {_reason(error)}") from error

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"cannot read s3://{bucket}/{key}: {_reason(error)}") from error
        except BotoCoreError as error:
            raise StorageError(f"cannot read s3://{bucket}/{key}: {_reason(error)}") from error
        return True

    def _list_keys(self, bucket: str, prefix: str) -> list[str]:
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"cannot list s3://{bucket}/{prefix}: {_reason(error)}") from error
        return sorted(key for key in keys if not key.endswith(("/", SCHEMA_SUFFIX)))


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".rstrip(": ")
    return str(error)
