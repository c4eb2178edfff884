"""Bundles in an S3-compatible object store: ``s3://bucket/prefix`` (boto3)."""
from __future__ import annotations

import hashlib
from typing import Iterator

from marketplace.catalog.stores import SHA_RE, Store


class S3Store(Store):
    """Objects ``prefix/ab/<sha256>.zip``; endpoint and credentials from the environment."""

    kind = "s3"

    def __init__(self, bucket: str, prefix: str, endpoint: str = "") -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client(
            "s3", endpoint_url=endpoint or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"},
                          s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30))
        self._errors = self.client.exceptions

    def key(self, sha256: str) -> str:
        """The object key of a digest."""
        name = f"{sha256[:2]}/{sha256}.zip"
        return f"{self.prefix}/{name}" if self.prefix else name

    def exists(self, sha256: str) -> bool:
        """True if the digest is stored."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def digests(self) -> Iterator[str]:
        """Every stored digest under the prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else "")
        for page in pages:
            for item in page.get("Contents", []):
                stem = item["Key"].rsplit("/", 1)[-1].removesuffix(".zip")
                if SHA_RE.fullmatch(stem):
                    yield stem

    def check(self) -> None:
        """The bucket answers."""
        self.client.head_bucket(Bucket=self.bucket)

    def _read(self, sha256: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except self._errors.NoSuchKey:
            return None
        return answer["Body"].read()

    def _write(self, sha256: str, data: bytes) -> None:
        import base64

        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()   # noqa: S324 - transport check
        self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data,
                               ContentMD5=md5, ContentType="application/zip")
