"""Wire encodings shared by the worker, the gateway and the SDK: JSON, msgpack and stream frames.

JSON goes through orjson; numpy arrays become nested lists. msgpack keeps numpy arrays as
arrays: an ndarray travels as a msgpack extension (type `EXT_NDARRAY`) whose payload is

    version:u8 = 1 | len(dtype):u8 | dtype.str (ascii) | ndim:u8 | shape: ndim x u64 LE | raw bytes

with the raw bytes in C order and the byte order carried by `dtype.str` (e.g. `<f4`), so any
client that reads msgpack can rebuild the array. Decoded arrays are writable copies, because
model code may modify its inputs in place.

Streams are sequences of frames: NDJSON lines for JSON, concatenated msgpack objects for
msgpack, and `data: <json>` events for SSE. `FrameDecoder` reads any of them incrementally from
chunks split at arbitrary byte offsets.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import msgpack
import numpy as np
import orjson

JSON = "application/json"
MSGPACK = "application/msgpack"
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"

SSE_DONE = b"data: [DONE]\n\n"
ERROR_KEY = "__hai_error__"

EXT_NDARRAY = 78  # "N"; msgpack application extension types are 0..127
_EXT_VERSION = 1
_MAX_DIMS = 64

_MSGPACK_TYPES = frozenset({"application/msgpack", "application/x-msgpack"})
# What `accept_media` recognises; NDJSON asks for the JSON encoding of a stream.
_ACCEPTED = {
    "application/msgpack": MSGPACK,
    "application/x-msgpack": MSGPACK,
    "application/json": JSON,
    "application/x-ndjson": JSON,
    "text/event-stream": SSE,
}

_JSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_NDJSON_OPTS = _JSON_OPTS | orjson.OPT_APPEND_NEWLINE


class CodecError(ValueError):
    """Bytes that cannot be decoded (or a media type this module does not know)."""


class EncodeError(CodecError, TypeError):
    """A value that cannot be encoded; also a TypeError, like json/orjson/msgpack raise."""


# ---------------------------------------------------------------------------- media types


def media_type(content_type: str | None) -> str:
    """The body encoding a Content-Type names: MSGPACK for (x-)msgpack, else JSON."""
    if not content_type:
        return JSON
    base = content_type.split(";", 1)[0].strip().lower()
    return MSGPACK if base in _MSGPACK_TYPES else JSON


def stream_media(content_type: str | None) -> str:
    """The frame format of a streamed response, from its Content-Type: SSE, MSGPACK or NDJSON."""
    if not content_type:
        return NDJSON
    base = content_type.split(";", 1)[0].strip().lower()
    if base == SSE:
        return SSE
    return MSGPACK if base in _MSGPACK_TYPES else NDJSON


def accept_media(accept: str | None, default: str) -> str:
    """Which of MSGPACK / JSON / SSE an Accept header asks for; `default` if it names none.

    The highest q-value wins and ties go to the first listed; wildcards name nothing.
    """
    if not accept:
        return default
    best, best_q = default, -1.0
    for part in accept.split(","):
        base, _, params = part.partition(";")
        media = _ACCEPTED.get(base.strip().lower())
        if media is None:
            continue
        q = 1.0
        if params:
            for param in params.split(";"):
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = 0.0
        if q > best_q and q > 0:
            best, best_q = media, q
    return best


# ---------------------------------------------------------------------------- numpy helpers


def _refuse_dtype(arr: np.ndarray) -> None:
    if arr.dtype.hasobject:
        raise EncodeError(
            "numpy arrays of dtype object cannot be encoded; convert them to a numeric "
            "array or to a list first"
        )
    if arr.dtype.fields is not None:
        raise EncodeError(
            "structured numpy arrays cannot be encoded; send a dict of plain arrays instead"
        )


def _json_default(obj: Any) -> Any:
    # orjson serialises contiguous arrays of common dtypes natively; this handles the rest
    # (non-contiguous views, float16/complex/str arrays, numpy scalars it does not know).
    if isinstance(obj, np.ndarray):
        _refuse_dtype(obj)
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise EncodeError(f"cannot encode an object of type {type(obj).__name__} as JSON")


def _pack_ndarray(arr: np.ndarray) -> msgpack.ExtType:
    _refuse_dtype(arr)
    if arr.ndim > _MAX_DIMS:
        raise EncodeError(f"numpy arrays with more than {_MAX_DIMS} dimensions are not supported")
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # not ascontiguousarray: that turns 0-d arrays into 1-d
    dtype = arr.dtype.str.encode("ascii")
    header = struct.pack(
        f"<BB{len(dtype)}sB{arr.ndim}Q", _EXT_VERSION, len(dtype), dtype, arr.ndim, *arr.shape
    )
    # A uint8 view exposes the bytes of any dtype (datetime64 has no buffer of its own);
    # join() then copies them once.
    raw: Any = arr.reshape(-1).view(np.uint8) if arr.ndim else arr.tobytes()
    return msgpack.ExtType(EXT_NDARRAY, b"".join((header, raw)))


def _unpack_ndarray(data: bytes) -> np.ndarray:
    try:
        version, dlen = data[0], data[1]
        if version != _EXT_VERSION:
            raise CodecError(f"ndarray extension version {version} is not supported")
        dtype = np.dtype(data[2 : 2 + dlen].decode("ascii"))
        pos = 2 + dlen
        ndim = data[pos]
        shape = struct.unpack_from(f"<{ndim}Q", data, pos + 1)
        pos += 1 + 8 * ndim
    except CodecError:
        raise
    except (IndexError, TypeError, ValueError, struct.error, UnicodeDecodeError) as e:
        raise CodecError(f"malformed ndarray extension: {e}") from None
    if dtype.hasobject:
        raise CodecError("ndarray extension with dtype object refused")
    count = 1
    for n in shape:
        count *= n
    if len(data) - pos != count * dtype.itemsize:
        raise CodecError(
            f"malformed ndarray extension: {len(data) - pos} bytes for shape {tuple(shape)} "
            f"of {dtype.str}"
        )
    if count == 0 or dtype.itemsize == 0:
        return np.zeros(shape, dtype)
    # frombuffer gives a read-only view of immutable bytes; copy so callers may write to it.
    return np.frombuffer(data, dtype, count, pos).reshape(shape).copy()


def _msgpack_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return _pack_ndarray(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise EncodeError(f"cannot encode an object of type {type(obj).__name__} as msgpack")


def _why(e: Exception) -> str:
    # msgpack raises some errors (FormatError: a reserved byte) without any text.
    return str(e) or f"{type(e).__name__} (not msgpack data)"


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_NDARRAY:
        return _unpack_ndarray(data)
    return msgpack.ExtType(code, data)


# ---------------------------------------------------------------------------- whole bodies


def _dumps_json(obj: Any, opts: int) -> bytes:
    try:
        return orjson.dumps(obj, default=_json_default, option=opts)
    except orjson.JSONEncodeError as e:
        # orjson wraps errors raised by `default`; surface ours unchanged.
        if isinstance(e.__cause__, EncodeError):
            raise e.__cause__ from None
        first = e
    # orjson refuses some arrays outright (non-native byte order) instead of calling
    # `default`; on this rare path let every array go through `default` (tolist).
    try:
        return orjson.dumps(obj, default=_json_default, option=opts & ~orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError as e:
        if isinstance(e.__cause__, EncodeError):
            raise e.__cause__ from None
        raise EncodeError(f"cannot encode as JSON: {first}") from None


def _dumps_msgpack(obj: Any) -> bytes:
    try:
        return msgpack.packb(obj, default=_msgpack_default, use_bin_type=True)
    except EncodeError:
        raise
    except (TypeError, ValueError, OverflowError) as e:
        raise EncodeError(f"cannot encode as msgpack: {e}") from None


def encode(obj: Any, media: str) -> bytes:
    """Encode a whole body; raises EncodeError (a TypeError) for values the format cannot hold."""
    if media == MSGPACK:
        return _dumps_msgpack(obj)
    if media in (JSON, NDJSON):
        return _dumps_json(obj, _JSON_OPTS)
    raise CodecError(f"unknown media type {media!r}")


def decode(data: bytes | bytearray | memoryview, media: str) -> Any:
    """Decode a whole body; raises CodecError saying what is wrong with it."""
    if media == MSGPACK:
        try:
            return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
        except CodecError:
            raise
        except msgpack.ExtraData:
            raise CodecError("invalid msgpack: extra bytes after the first object") from None
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise CodecError(f"invalid msgpack: {_why(e)}") from None
    if media in (JSON, NDJSON):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise CodecError(f"invalid JSON: {e}") from None
    raise CodecError(f"unknown media type {media!r}")


# ---------------------------------------------------------------------------- stream frames


def encode_frame(obj: Any, media: str) -> bytes:
    """One stream frame: an NDJSON line (JSON), a msgpack object, or an SSE `data:` event."""
    if media == MSGPACK:
        return _dumps_msgpack(obj)
    if media in (JSON, NDJSON):
        return _dumps_json(obj, _NDJSON_OPTS)
    if media == SSE:
        return b"data: " + _dumps_json(obj, _JSON_OPTS) + b"\n\n"
    raise CodecError(f"unknown media type {media!r}")


def stream_error(item: Any, media: str) -> dict[str, Any] | None:
    """The error a frame carries when it is the final error frame of a stream, else None."""
    if not isinstance(item, dict):
        return None
    key = "error" if media == SSE else ERROR_KEY
    err = item.get(key) if media != SSE or len(item) == 1 else None
    return err if isinstance(err, dict) else None


class FrameDecoder:
    """Incremental decoder of a framed stream (NDJSON, msgpack or SSE).

    `feed(chunk)` returns the frames completed by that chunk. For SSE it yields the parsed
    JSON of each `data:` event and nothing after `data: [DONE]` (then `done` is True).
    `finish()` says whether the stream ended cleanly: it raises CodecError if bytes of an
    unfinished frame are left over.
    """

    def __init__(self, media: str) -> None:
        if media == JSON:
            media = NDJSON
        if media not in (NDJSON, MSGPACK, SSE):
            raise CodecError(f"unknown stream media type {media!r}")
        self.media = media
        self.done = False
        self._buf = b""
        self._fed = 0
        self._unpacker: msgpack.Unpacker | None = None
        self._sse = SSESplitter() if media == SSE else None
        if media == MSGPACK:
            # max_buffer_size=0 lifts msgpack's 100 MiB default: frames may hold large arrays.
            self._unpacker = msgpack.Unpacker(
                ext_hook=_ext_hook, raw=False, strict_map_key=False, max_buffer_size=0
            )

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Any]:
        if self.done or not chunk:
            return []
        if self._unpacker is not None:
            self._fed += len(chunk)
            self._unpacker.feed(chunk)
            try:
                return list(self._unpacker)
            except CodecError:
                raise
            except (ValueError, TypeError, msgpack.UnpackException) as e:
                raise CodecError(f"invalid msgpack frame: {_why(e)}") from None
        if self.media == NDJSON:
            return self._feed_ndjson(bytes(chunk))
        return self._feed_sse(bytes(chunk))

    def _feed_ndjson(self, chunk: bytes) -> list[Any]:
        end = chunk.rfind(b"\n")
        if end < 0:
            self._buf += chunk
            return []
        data = self._buf + chunk[: end + 1] if self._buf else chunk[: end + 1]
        self._buf = chunk[end + 1 :]
        out = []
        for line in data.split(b"\n"):
            if line.strip():
                out.append(self._json(line))
        return out

    def _feed_sse(self, chunk: bytes) -> list[Any]:
        assert self._sse is not None
        out: list[Any] = []
        for event in sse_events(self._sse.feed(chunk)):
            payload = sse_data(event)
            if payload is None:
                continue
            if payload.strip() == b"[DONE]":
                self.done = True
                return out
            out.append(self._json(payload))
        return out

    @staticmethod
    def _json(data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise CodecError(f"invalid JSON frame {data[:80]!r}: {e}") from None

    def finish(self) -> None:
        """Raise CodecError if the stream stopped in the middle of a frame."""
        if self._unpacker is not None:
            left = self._fed - self._unpacker.tell()
        elif self._sse is not None:
            left = len(self._sse.pending.strip())
        else:
            left = len(self._buf.strip())
        if left and not self.done:
            raise CodecError(f"stream ended in the middle of a frame ({left} bytes left over)")


# ---------------------------------------------------------------------------- SSE


_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSESplitter:
    """Cuts a server-sent-event stream into whole events, keeping their original bytes.

    The one SSE reader of the platform (the SDK's and the gateway's usage tap use it). Lines
    may end with CRLF, LF or CR, as the SSE spec allows (sse-starlette writes CRLF); an event
    ends at a blank line. `feed(chunk)` returns the bytes of the events that chunk completed,
    unchanged, so a relay can pass them on at once; a partial event waits for the rest.
    """

    def __init__(self) -> None:
        self.pending = b""
        self._after_cr = False  # the last cut was at a CR that may be half of a CRLF

    def feed(self, chunk: bytes | bytearray | memoryview) -> bytes:
        data = self.pending + bytes(chunk) if self.pending else bytes(chunk)
        lead = b""
        if self._after_cr and data[:1] == b"\n":
            lead, data = b"\n", data[1:]  # the LF of a CRLF whose CR ended the last cut
        ends = _event_ends(data)
        end = ends[-1] if ends else 0
        self._after_cr = end > 0 and end == len(data) and data.endswith(b"\r")
        self.pending = data[end:]
        return lead + data[:end]

    def close(self) -> bytes:
        """What is left of an unfinished event when the stream ends."""
        rest, self.pending = self.pending, b""
        return rest


def _event_ends(data: bytes) -> list[int]:
    """Offsets just past each blank line (the end of an event) in `data`."""
    ends: list[int] = []
    if b"\r" not in data:  # the common case: LF only
        start = 0
        while (cut := data.find(b"\n\n", start)) >= 0:
            start = cut + 2
            ends.append(start)
        return ends
    line_start = 0
    for m in _LINE_END.finditer(data):
        if m.start() == line_start:  # an empty line
            ends.append(m.end())
        line_start = m.end()
    return ends


def sse_events(data: bytes) -> list[bytes]:
    """Split whole events (as `SSESplitter.feed` returns them) into one bytes object each."""
    start = 0
    events = []
    for end in _event_ends(data):
        events.append(data[start:end])
        start = end
    if start < len(data):
        events.append(data[start:])
    return events


def sse_data(event: bytes) -> bytes | None:
    """The data of one event (its `data:` lines joined by LF), or None when it has none.

    Other fields (event:, id:, retry:) and comments (":") carry nothing the platform uses.
    """
    data: list[bytes] = []
    for line in _LINE_END.split(event):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(data) if data else None
