"""S3 checks the checksums a client sends with its bytes; moto stores them unread. This module makes the stack check.

On PutObject and UploadPart the claimed ``x-amz-checksum-sha256``, ``-sha1`` and ``-crc32`` (a header, or the
trailer of an aws-chunked body, which the newest SDKs send by default) and ``Content-MD5`` are recomputed over the
decoded body before moto sees the request. A mismatch is answered as S3 answers it, 400 ``BadDigest`` ("The SHA256
you specified did not match the calculated checksum."), and nothing is stored: not the object, not the part.

CompleteMultipartUpload answers with the object's checksum (``<ChecksumSHA256>``), as S3 does and moto does not, so a
client can trust the answer without a HEAD. Like HeadObject here, it leaves out the ``-<parts>`` S3 appends to a
composite checksum.

Unchecked: CRC32C and CRC64NVME. They need native code (``crc32c``, ``awscrt``) that this stack does not install,
and a pure-Python CRC would cost seconds per part; their claimed values are stored as sent (moto's behaviour).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from typing import Any

from moto.s3.exceptions import S3ClientError
from moto.s3.responses import S3Response

CHECKED: dict[str, Callable[[bytes], bytes]] = {
    "sha256": lambda body: hashlib.sha256(body).digest(),
    "sha1": lambda body: hashlib.sha1(body, usedforsecurity=False).digest(),
    "crc32": lambda body: binascii.crc32(body).to_bytes(4, "big"),
}
UNCHECKED = ("crc32c", "crc64nvme")
KNOWN = (*CHECKED, *UNCHECKED)
CHECKSUM_HEADER = re.compile(r"^x-amz-checksum-([a-z0-9]+)$")


class BadDigest(S3ClientError):
    code = "BadDigest"

    def __init__(self, message: str) -> None:
        super().__init__("BadDigest", message)


class InvalidDigest(S3ClientError):
    code = "InvalidDigest"

    def __init__(self) -> None:
        super().__init__("InvalidDigest", "The Content-MD5 you specified was not valid.")


class InvalidChecksum(S3ClientError):
    code = "InvalidRequest"

    def __init__(self, name: str) -> None:
        super().__init__("InvalidRequest", f"Value for {name} header is invalid.")


def claimed_checksums(headers: Any, raw_body: bytes) -> dict[str, str]:
    """Algorithm -> base64 value the client claims, from headers and from an aws-chunked body's trailer."""
    claimed = {}
    for name, value in headers.items():
        match = CHECKSUM_HEADER.match(name.lower())
        if match and match.group(1) in KNOWN:
            claimed[match.group(1)] = value.strip()
    for name in (headers.get("x-amz-trailer") or "").split(","):
        match = CHECKSUM_HEADER.match(name.strip().lower())
        if match and match.group(1) in KNOWN:
            value = _trailer_value(raw_body, name.strip().lower())
            if value is None:
                raise InvalidChecksum(name.strip().lower())  # announced, never sent: the body was cut short
            claimed[match.group(1)] = value
    return claimed


def _trailer_value(raw_body: bytes, name: str) -> str | None:
    """The trailer's value: the last ``\\n<name>:<value>`` of the body, which ends with the trailers."""
    start = raw_body.rfind(b"\n" + name.encode() + b":")
    if start < 0:
        return None
    line = raw_body[start + len(name) + 2:].split(b"\n", 1)[0]
    return line.strip().decode("ascii", "replace")


def verify(headers: Any, raw_body: bytes, body: bytes) -> None:
    """Raises BadDigest (or InvalidDigest, InvalidRequest for a malformed value) unless every checked checksum the
    client claims equals the one of ``body``, the decoded bytes."""
    md5 = headers.get("Content-MD5")
    if md5:
        try:
            claimed_md5 = base64.b64decode(md5.strip(), validate=True)
        except binascii.Error:
            raise InvalidDigest() from None
        if len(claimed_md5) != 16:
            raise InvalidDigest()
        if claimed_md5 != hashlib.md5(body, usedforsecurity=False).digest():
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
    for algorithm, value in claimed_checksums(headers, raw_body).items():
        if algorithm not in CHECKED:
            continue
        actual = CHECKED[algorithm](body)
        try:
            claimed = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise InvalidChecksum(f"x-amz-checksum-{algorithm}") from None
        if len(claimed) != len(actual):
            raise InvalidChecksum(f"x-amz-checksum-{algorithm}")
        if claimed != actual:
            raise BadDigest(f"The {algorithm.upper()} you specified did not match the calculated checksum.")


def _body_of(response: S3Response) -> bytes:
    body = response.body or b""
    return body if isinstance(body, bytes) else bytes(body)


def _checked(method: Callable[[S3Response], Any]) -> Callable[[S3Response], Any]:
    def checked(self: S3Response) -> Any:
        verify(self.headers, self.raw_body or b"", _body_of(self))  # before moto stores anything
        return method(self)

    checked.__wrapped__ = method  # type: ignore[attr-defined]
    return checked


def _with_checksum_on_complete(method: Callable[..., Any]) -> Callable[..., Any]:
    def post(self: S3Response, request: Any, body: bytes, bucket_name: str, query: dict[str, Any],
             key_name: str) -> Any:
        status, headers, content = method(self, request, body, bucket_name, query, key_name)
        if status == 200 and query.get("uploadId") and isinstance(content, (bytes, str)):
            key = self.backend.get_object(bucket_name, key_name)
            if key is not None and key.checksum_algorithm and key.checksum_value:
                # The form HeadObject gives here (moto leaves out AWS's "-<parts>"): a manifest that records this
                # answer is verified by `make verify`'s HEAD.
                value = key.checksum_value
                name = f"Checksum{key.checksum_algorithm.upper()}"
                element = f"<{name}>{value}</{name}>"
                text = content.decode() if isinstance(content, bytes) else content
                text = text.replace("</CompleteMultipartUploadResult>", f"{element}</CompleteMultipartUploadResult>")
                content = text.encode() if isinstance(content, bytes) else text
                headers.pop("content-length", None)
                headers.pop("Content-Length", None)
        return status, headers, content

    post.__wrapped__ = method  # type: ignore[attr-defined]
    return post


def install() -> None:
    """Patch moto's S3 responses once: checks on PutObject and UploadPart, the checksum on the complete's answer."""
    if getattr(S3Response.put_object, "__wrapped__", None) is not None:
        return
    S3Response.put_object = _checked(S3Response.put_object)  # type: ignore[method-assign]
    S3Response.upload_part = _checked(S3Response.upload_part)  # type: ignore[method-assign]
    S3Response._key_response_post = _with_checksum_on_complete(  # type: ignore[method-assign]
        S3Response._key_response_post)


def decay(bucket: str, key: str, offset: int) -> dict[str, Any]:
    """Flips one stored byte of an object's latest version, its checksum and ETag left as they were: bit rot, the
    damage no request can make now that writes are checked (``POST /_local_aws/s3/decay``, for restore tests)."""
    from moto.s3.models import s3_backends

    partition, account = s3_backends.bucket_accounts.get(bucket, ("aws", None))
    if account is None:
        raise KeyError(f"no bucket {bucket!r}")
    stored = s3_backends[account][partition].get_object(bucket, key)
    if stored is None:
        raise KeyError(f"no object s3://{bucket}/{key}")
    with stored.lock:
        stored._value_buffer.seek(0)
        data = bytearray(stored._value_buffer.read())
        if not 0 <= offset < len(data):
            raise ValueError(f"offset {offset} is outside s3://{bucket}/{key} ({len(data)} bytes)")
        data[offset] ^= 0xFF
        stored._value_buffer.seek(0)
        stored._value_buffer.write(bytes(data))  # same length: nothing else of the object changes
    return {"bucket": bucket, "key": key, "offset": offset, "size": len(data)}
