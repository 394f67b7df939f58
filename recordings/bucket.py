"""The S3-compatible bucket where old footage goes (RECORDINGS_S3_URL): upload, verify, read by range, list.

One object per store key, under the URL's prefix: `s3://nvr/site-a` keeps a segment `<uid>/2026/...mp4`
as the object `site-a/<uid>/2026/...mp4`. Nothing here decides *when* footage moves (recordings.tier) or
which backend a key is read from (recordings.store.TieredStore); this module only speaks S3, through boto3.

- An upload carries the SHA-256 of the bytes sent (`ChecksumAlgorithm`): the server checks what it
  received against it and keeps it, and `verify()` compares the server's checksum and size with those
  the recorder computed when it wrote the segment (Segment.sha256), so a file that rotted on the local
  disk after it was written fails verification rather than replacing good footage.
- Reads are ranged GETs behind a seekable file object (`RangedObject`): HTTP Range, PyAV's clips and
  previews read the bucket as they read a local file, with no download to disk first.
- The endpoint is an address an operator typed: it passes the outbound policy (outbound.check_now,
  Purpose.STORAGE) before a client is made, and before every mover pass (recordings.tier).
- Credentials come from the settings or boto3's own chain, and are never logged: failures are reported
  by their class and S3 error code only.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from outbound import Purpose, check_now

READ_BUFFER = 64 * 1024  # the buffered reader's own buffer over a RangedObject (PyAV asks for 32 KB at a time)
READAHEAD_FIRST = 256 * 1024  # bytes of the first ranged GET after a seek
READAHEAD_MOST = 4 << 20  # and of a GET when reads go on sequentially (doubling up to this)
CONNECT_TIMEOUT = 5.0  # seconds: a bucket away is an error soon, never a stuck mover or viewer
READ_TIMEOUT = 30.0


class BucketError(ConnectionError):
    """The bucket could not be reached or refused a request; the message names no credential."""


@dataclass(frozen=True)
class BucketConfig:
    """Where the bucket is: its name, the key prefix, and an endpoint and region for S3-compatibles."""

    bucket: str
    prefix: str = ""
    endpoint: str = ""  # empty: AWS itself
    region: str = ""

    @classmethod
    def from_url(cls, url: str) -> BucketConfig:
        """`s3://bucket/prefix?endpoint=http://host:9000&region=eu-west-1` (ValueError with the reason)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.hostname:
            raise ValueError("RECORDINGS_S3_URL must be s3://bucket[/prefix][?endpoint=...&region=...]")
        if parts.username or parts.password:
            raise ValueError(
                "RECORDINGS_S3_URL must not hold credentials: set RECORDINGS_S3_ACCESS_KEY_ID and ..._SECRET"
            )
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "region"}
        if unknown:
            raise ValueError(f"RECORDINGS_S3_URL: unknown option(s) {', '.join(sorted(unknown))} (endpoint, region)")
        return cls(
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint=query.get("endpoint", ""),
            region=query.get("region", ""),
        )

    def object_name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def key_of(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name


def sha256_base64(hex_digest: str) -> str:
    """S3's form of a SHA-256 checksum (base64 of the digest) from the hex the index keeps."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


@dataclass(frozen=True)
class StoredObject:
    key: str
    bytes: int
    modified: float


class Bucket:
    """One bucket (a boto3 client made on first use; boto3 clients are safe to share between threads)."""

    def __init__(self, config: BucketConfig, *, access_key: str = "", secret_key: str = "") -> None:
        self.config = config
        self._credentials = (access_key, secret_key)
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the credentials
        return f"Bucket({self.config.bucket!r}, prefix={self.config.prefix!r}, endpoint={self.config.endpoint!r})"

    def check_endpoint(self) -> None:
        """The outbound policy on the endpoint, with the addresses its name has now (Refused, OSError)."""
        if self.config.endpoint:
            check_now(self.config.endpoint, Purpose.STORAGE)

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self.check_endpoint()
                access, secret = self._credentials
                self._client = boto3.client(
                    "s3",
                    endpoint_url=self.config.endpoint or None,
                    region_name=self.config.region or None,
                    aws_access_key_id=access or None,
                    aws_secret_access_key=secret or None,
                    config=Config(
                        connect_timeout=CONNECT_TIMEOUT,
                        read_timeout=READ_TIMEOUT,
                        retries={"max_attempts": 2, "mode": "standard"},
                        s3={"addressing_style": "path"} if self.config.endpoint else None,
                        max_pool_connections=20,
                    ),
                )
            return self._client

    # Writing ---------------------------------------------------------------------------------------
    def upload(self, key: str, body: BinaryIO, *, metadata: dict[str, str] | None = None) -> None:
        """Put `body` (a seekable file object) as `key`; boto3 sends its SHA-256, which the server checks and keeps."""
        with _errors(key):
            self.client.put_object(
                Bucket=self.config.bucket,
                Key=self.config.object_name(key),
                Body=body,
                ChecksumAlgorithm="SHA256",
                Metadata=metadata or {},
            )

    def verify(self, key: str, *, size: int, sha256: str) -> str:
        """ "" when the object has `size` bytes and the SHA-256 `sha256` (hex), else what differs."""
        with _errors(key):
            head = self.client.head_object(
                Bucket=self.config.bucket, Key=self.config.object_name(key), ChecksumMode="ENABLED"
            )
        if head["ContentLength"] != size:
            return f"size {head['ContentLength']} instead of {size}"
        stored = head.get("ChecksumSHA256")
        if stored is None:
            return "the bucket keeps no SHA-256 checksum of the object"
        if stored != sha256_base64(sha256):
            return "its SHA-256 differs from the one computed when the segment was written"
        return ""

    def delete(self, key: str) -> None:
        with _errors(key):
            self.client.delete_object(Bucket=self.config.bucket, Key=self.config.object_name(key))

    # Reading ---------------------------------------------------------------------------------------
    def size(self, key: str) -> int:
        with _errors(key):
            head = self.client.head_object(Bucket=self.config.bucket, Key=self.config.object_name(key))
        return int(head["ContentLength"])

    def metadata(self, key: str) -> dict[str, str]:
        with _errors(key):
            head = self.client.head_object(Bucket=self.config.bucket, Key=self.config.object_name(key))
        return dict(head.get("Metadata") or {})

    def read(self, key: str, first: int, last: int) -> bytes:
        """Bytes `first`..`last` (inclusive) of `key`: one ranged GET."""
        with _errors(key):
            answer = self.client.get_object(
                Bucket=self.config.bucket, Key=self.config.object_name(key), Range=f"bytes={first}-{last}"
            )
            return answer["Body"].read()

    def open(self, key: str) -> BinaryIO:
        """A seekable, buffered file object of `key` that reads by ranged GETs (FileNotFoundError if absent)."""
        raw = RangedObject(self, key, self.size(key))
        return io.BufferedReader(raw, buffer_size=READ_BUFFER)

    def walk(self) -> Iterator[StoredObject]:
        """Every object under the prefix."""
        prefix = f"{self.config.prefix}/" if self.config.prefix else ""
        with _errors(prefix or "/"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.config.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    yield StoredObject(
                        self.config.key_of(item["Key"]), int(item["Size"]), item["LastModified"].timestamp()
                    )

    def ensure(self) -> None:
        """Make the bucket if it does not exist (tests and a fresh MinIO; a cloud bucket is made by its owner)."""
        with _errors("/"):
            try:
                self.client.head_bucket(Bucket=self.config.bucket)
            except BucketError:
                raise
            except Exception:  # noqa: BLE001 - a 404 here: make it
                self.client.create_bucket(Bucket=self.config.bucket)


class RangedObject(io.RawIOBase):
    """A read-only, seekable view of one object, read by ranged GETs with a readahead that grows while
    reads are sequential and starts small again after a seek.

    PyAV opening a fragmented MP4 hops from fragment header to fragment header across the file; with a
    fixed 1 MiB buffer that a seek discards, the first frame of a 5.3 MB segment took 13 GETs and 12 MB
    (measured, docs/facts.md). Small windows after a seek keep the hops cheap; doubling windows keep a
    sequential read (an HLS segment, a clip's remux) at a few large GETs.
    """

    def __init__(self, bucket: Bucket, key: str, size: int) -> None:
        self.bucket, self.key, self.length, self.position = bucket, key, size, 0
        self.window_start, self.window = 0, b""
        self.readahead = READAHEAD_FIRST
        self.requests = 0  # ranged GETs made (bench/storage.py reports them)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self.position = base + offset
        return self.position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.length - self.position)
        if wanted <= 0:
            return 0
        offset = self.position - self.window_start
        if not 0 <= offset < len(self.window):
            sequential = self.position == self.window_start + len(self.window)
            self.readahead = min(self.readahead * 2, READAHEAD_MOST) if sequential else READAHEAD_FIRST
            last = min(self.length, self.position + max(wanted, self.readahead)) - 1
            self.window, self.window_start, offset = self.bucket.read(self.key, self.position, last), self.position, 0
            self.requests += 1
        count = min(wanted, len(self.window) - offset)
        if count <= 0:
            return 0
        buffer[:count] = self.window[offset : offset + count]
        self.position += count
        return count


@contextmanager
def _errors(key: str) -> Iterator[None]:
    """botocore's failures as FileNotFoundError (no such key) or BucketError (anything else), credential-free."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            raise FileNotFoundError(f"no object for {key}") from None
        raise BucketError(f"the bucket refused the request ({code or 'an error'})") from None
    except BotoCoreError as error:
        raise BucketError(f"the bucket is unreachable ({type(error).__name__})") from None
