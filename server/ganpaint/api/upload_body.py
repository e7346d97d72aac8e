"""An upload's body, received with bounds (POST /uploads): a few at a time, judged early, spooled to disk.

- ``UploadBodies``: at most ``max_upload_bodies`` bodies are being received at once per worker; past it the
  request gets ``BusyError`` (503 + Retry-After, the connection closed) before a byte of its body is read.
- ``receive_body``: the declared Content-Length is judged first (413 over ``max_upload_bytes``); the body then
  streams into a ``SpooledTemporaryFile`` (memory up to ``upload_spool_bytes``, a temporary file past it) with a
  running count (413 the moment it passes the limit). Its start is judged as it arrives: a picture must start
  like a PNG, JPEG or WebP and, once its header is in (at most ``JUDGE_BYTES``), declare at most
  ``max_upload_pixels``; JSON must start with ``{``. Anything refused while the body is still coming raises
  ``BodyRefused``: the answer closes the connection, and the rest of the body is never read.

So a flood of big junk bodies costs each at most ``JUDGE_BYTES`` read and a small buffer, whatever their size
(docs/reliability.md, round five).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from starlette.requests import ClientDisconnect, Request

from ganpaint.api.guards.admission import BusyError
from ganpaint.project.images import PictureError, PictureTooLarge, declared_size, probe_picture, sniff_format

JUDGE_BYTES = 64 * 1024  # a picture's header must be in this many bytes (else it is judged once all is in)


class BodyRefused(Exception):
    """``cause`` (a BusyError, PictureError, ValueError) was raised before the body was read in full: answered
    with the cause's status and detail, closing the connection (api/errors.py)."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class UploadBodies:
    """Upload bodies being received at once, per worker (the event loop's thread alone counts them)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.receiving = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.receiving >= self.limit:
            raise BusyError(
                f"server: busy, {self.receiving} uploads arriving (max_upload_bodies {self.limit}); retry shortly"
            )
        self.receiving += 1
        try:
            yield
        finally:
            self.receiving -= 1


async def receive_body(request: Request, picture: bool, max_bytes: int, max_pixels: int, spool_bytes: int) -> BinaryIO:
    """The request's body in a spooled file, read from its start; ``picture``: an image file, else JSON.
    Raises ``BodyRefused`` (see the module docstring). The caller closes the file."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyRefused(PictureTooLarge(f"file: {int(declared)} bytes exceeds the limit of {max_bytes} bytes"))
    spool = tempfile.SpooledTemporaryFile(max_size=spool_bytes)
    size, judged = 0, False
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise PictureTooLarge(f"file: over {max_bytes} bytes (the limit); {size} bytes received so far")
            spool.write(chunk)
            if not judged and size >= JUDGE_BYTES:
                judged = judge_start(spool, picture, max_pixels, complete=False)
        if not judged:
            judge_start(spool, picture, max_pixels, complete=True)
    except (BusyError, ValueError) as exc:  # PictureError is a ValueError
        spool.close()
        raise BodyRefused(exc) from exc
    except ClientDisconnect as exc:  # nobody reads the answer; the log needs no traceback either
        spool.close()
        raise BodyRefused(ValueError("request body: the client left before sending it all")) from exc
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def judge_start(spool: BinaryIO, picture: bool, max_pixels: int, complete: bool) -> bool:
    """True once the body's start is known to be acceptable, False if more must arrive first (only when not
    ``complete``); PictureError, PictureTooLarge or ValueError naming the field when it is not acceptable."""
    try:
        spool.seek(0)
        head = spool.read(JUDGE_BYTES)
        if not picture:
            first = head.lstrip()[:1]
            if first and first != b"{":
                raise ValueError(f"body: expected a JSON object {{data | scene, model, layer, crop, wait}}, "
                                 f"got {head.lstrip()[:20]!r}...")  # fmt: skip
            return bool(first) or complete
        if not head:
            raise PictureError("file: empty upload")
        if sniff_format(head) is None:
            raise PictureError(f"file: not a PNG, JPEG or WebP image (it starts with {head[:8]!r})")
        size = declared_size(head)
        if size is None:  # the header is not all in yet (a JPEG's long metadata): judge it when it is
            if complete:
                probe_picture(spool, max_pixels)  # the whole body: its own error, naming the field
            return complete
        if size[0] * size[1] > max_pixels:
            w, h = size
            raise PictureTooLarge(f"file: {w} x {h} = {w * h} pixels exceeds the limit of {max_pixels} pixels")
        return True
    finally:
        spool.seek(0, io.SEEK_END)
