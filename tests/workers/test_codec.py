"""hakutaku.codec: bodies, numpy arrays, stream frames."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import orjson
import pytest

from hakutaku import codec
from hakutaku.codec import (
    ERROR_KEY,
    JSON,
    MSGPACK,
    NDJSON,
    SSE,
    SSE_DONE,
    CodecError,
    EncodeError,
    FrameDecoder,
    accept_media,
    decode,
    encode,
    encode_frame,
    media_type,
    stream_error,
    stream_media,
)

RNG = np.random.default_rng(7)

ARRAYS = {
    "jets": RNG.normal(size=(16, 128, 7)).astype(np.float32),  # jets x particles x features
    "f64": RNG.normal(size=(5, 3)),
    "f16": RNG.normal(size=(4,)).astype(np.float16),
    "i64": np.arange(-5, 7, dtype=np.int64).reshape(3, 4),
    "i8": np.array([-128, 0, 127], dtype=np.int8),
    "u16": np.array([0, 65535], dtype=np.uint16),
    "bool": np.array([[True, False], [False, True]]),
    "scalar0d": np.array(2.5, dtype=np.float32),
    "empty": np.zeros((0, 7), dtype=np.float32),
    "bigendian": np.array([1, 2, 3], dtype=">i4"),
    "complex": np.array([1 + 2j, -3j], dtype=np.complex64),
    "strings": np.array(["b-jet", "light"]),
    "datetime": np.array(["2024-05-01", "2025-01-02"], dtype="datetime64[D]"),
    "fortran": np.asfortranarray(RNG.normal(size=(3, 4)).astype(np.float32)),
    "strided": np.arange(40, dtype=np.float32).reshape(4, 10)[:, ::3],
    "transposed": RNG.normal(size=(2, 3, 4)).astype(np.float32).transpose(2, 0, 1),
}


def _same(a: np.ndarray, b: Any) -> None:
    assert isinstance(b, np.ndarray)
    assert b.dtype == a.dtype
    assert b.shape == a.shape
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("key", sorted(ARRAYS))
def test_msgpack_keeps_numpy_arrays(key: str) -> None:
    arr = ARRAYS[key]
    out = decode(encode({"x": arr, "nested": {"list": [arr]}}, MSGPACK), MSGPACK)
    _same(arr, out["x"])
    _same(arr, out["nested"]["list"][0])


def test_decoded_arrays_are_writable_copies() -> None:
    out = decode(encode(ARRAYS["jets"], MSGPACK), MSGPACK)
    assert out.flags.writeable and out.flags.c_contiguous
    out[0, 0, 0] = 42.0  # model code may normalise its inputs in place


@pytest.mark.parametrize("key", sorted(set(ARRAYS) - {"complex"}))
def test_json_turns_arrays_into_lists(key: str) -> None:
    arr = ARRAYS[key]
    out = decode(encode({"x": arr}, JSON), JSON)
    assert isinstance(out["x"], list | float)
    if arr.dtype.kind == "M":
        assert out["x"] == [str(v) + "T00:00:00" for v in arr]
    else:
        # float32/16 are written with their own shortest repr: equal once read back as such
        np.testing.assert_array_equal(np.array(out["x"], dtype=arr.dtype).reshape(arr.shape), arr)


def test_numpy_scalars_become_python_scalars() -> None:
    value = {"f": np.float32(1.5), "i": np.int64(-3), "b": np.bool_(True), "u": np.uint8(7)}
    for media in (JSON, MSGPACK):
        out = decode(encode(value, media), media)
        assert out == {"f": 1.5, "i": -3, "b": True, "u": 7}
        assert type(out["f"]) is float and type(out["i"]) is int and type(out["b"]) is bool


def test_nested_plain_values_round_trip() -> None:
    value = {
        "model": "particlenet",
        "scores": [0.1, 0.9],
        "meta": {"n": 3, "ok": True, "none": None, "deep": {"list": [1, [2, {"x": "y"}]]}},
        "unicode": "白泽 π⁰→γγ",
    }
    for media in (JSON, MSGPACK):
        assert decode(encode(value, media), media) == value


def test_integer_keys_are_allowed() -> None:
    assert decode(encode({1: "quark", 2: "gluon"}, MSGPACK), MSGPACK) == {1: "quark", 2: "gluon"}
    assert decode(encode({1: "quark"}, JSON), JSON) == {"1": "quark"}


def test_msgpack_array_payload_is_documented_format() -> None:
    arr = np.arange(6, dtype="<f4").reshape(2, 3)
    ext = msgpack.unpackb(encode(arr, MSGPACK))
    assert isinstance(ext, msgpack.ExtType) and ext.code == codec.EXT_NDARRAY
    data = ext.data
    assert data[0] == 1 and data[2 : 2 + data[1]] == b"<f4"
    assert data[-arr.nbytes :] == arr.tobytes()


@pytest.mark.parametrize("media", [JSON, MSGPACK])
def test_object_arrays_are_refused(media: str) -> None:
    with pytest.raises(TypeError, match="dtype object"):
        encode({"x": np.array([{"a": 1}, None], dtype=object)}, media)


@pytest.mark.parametrize("media", [JSON, MSGPACK])
def test_unencodable_values_raise_encode_error(media: str) -> None:
    with pytest.raises(EncodeError, match="set"):
        encode({"x": {1, 2}}, media)
    with pytest.raises(TypeError):
        encode(object(), media)


def test_complex_arrays_cannot_be_json() -> None:
    with pytest.raises(EncodeError, match="complex"):
        encode(ARRAYS["complex"], JSON)


@pytest.mark.parametrize(
    ("data", "media", "match"),
    [
        (b"{", JSON, "invalid JSON"),
        (b"\xff\xfe", JSON, "invalid JSON"),
        (b"\xc1", MSGPACK, "invalid msgpack"),
        (b"\x92\x01", MSGPACK, "invalid msgpack"),
        (b"\x01\x02", MSGPACK, "extra bytes"),
        (msgpack.packb(msgpack.ExtType(codec.EXT_NDARRAY, b"\x01")), MSGPACK, "ndarray"),
        (msgpack.packb(msgpack.ExtType(codec.EXT_NDARRAY, b"\x09\x03<f4\x00")), MSGPACK, "version"),
        # declares 2 float32 but carries 4 bytes
        (
            msgpack.packb(
                msgpack.ExtType(
                    codec.EXT_NDARRAY, b"\x01\x03<f4\x01" + (2).to_bytes(8, "little") + b"\0" * 4
                )
            ),
            MSGPACK,
            "4 bytes for shape",
        ),
        (
            msgpack.packb(msgpack.ExtType(codec.EXT_NDARRAY, b"\x01\x03|O8\x00" + b"\0" * 8)),
            MSGPACK,
            "object",
        ),
    ],
)
def test_bad_input_raises_codec_error(data: bytes, media: str, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        decode(data, media)
    assert issubclass(CodecError, ValueError)


def test_unknown_media_type() -> None:
    with pytest.raises(CodecError):
        encode({}, "text/plain")
    with pytest.raises(CodecError):
        decode(b"{}", "text/plain")
    with pytest.raises(CodecError):
        FrameDecoder("text/plain")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("application/json", JSON),
        ("application/json; charset=utf-8", JSON),
        ("application/msgpack", MSGPACK),
        ("Application/X-MsgPack; foo=bar", MSGPACK),
        ("text/plain", JSON),
    ],
)
def test_media_type(header: str | None, expected: str) -> None:
    assert media_type(header) == expected


def test_stream_media() -> None:
    assert stream_media("text/event-stream; charset=utf-8") == SSE
    assert stream_media("application/msgpack") == MSGPACK
    assert stream_media("application/x-ndjson") == NDJSON
    assert stream_media(None) == NDJSON


@pytest.mark.parametrize(
    ("accept", "default", "expected"),
    [
        (None, MSGPACK, MSGPACK),
        ("*/*", JSON, JSON),
        ("*/*", MSGPACK, MSGPACK),
        ("application/msgpack", JSON, MSGPACK),
        ("application/x-msgpack", JSON, MSGPACK),
        ("text/event-stream", JSON, SSE),
        ("application/json, text/event-stream", MSGPACK, JSON),
        ("application/json;q=0.5, application/msgpack", JSON, MSGPACK),
        ("application/msgpack;q=0, application/json", MSGPACK, JSON),
        ("application/x-ndjson", MSGPACK, JSON),
        ("text/html, image/png", MSGPACK, MSGPACK),
    ],
)
def test_accept_media(accept: str | None, default: str, expected: str) -> None:
    assert accept_media(accept, default) == expected


# ---------------------------------------------------------------------------- frames

ITEMS: list[Any] = [
    {"i": 0, "text": "a\nb"},  # an escaped newline must not split an NDJSON line
    {"choices": [{"delta": {"content": "白泽"}}]},
    [1, 2, 3],
    "plain string",
    7,
    None,
]


def _stream(media: str, items: list[Any]) -> bytes:
    body = b"".join(encode_frame(item, media) for item in items)
    return body + SSE_DONE if media == SSE else body


@pytest.mark.parametrize("media", [NDJSON, MSGPACK, SSE])
def test_frames_split_at_every_byte(media: str) -> None:
    data = _stream(media, ITEMS)
    for cut in range(len(data) + 1):
        dec = FrameDecoder(media)
        got = dec.feed(data[:cut]) + dec.feed(data[cut:])
        assert got == ITEMS, cut
        dec.finish()


@pytest.mark.parametrize("media", [NDJSON, MSGPACK, SSE])
def test_frames_fed_one_byte_at_a_time(media: str) -> None:
    data = _stream(media, ITEMS)
    dec = FrameDecoder(media)
    got: list[Any] = []
    for i in range(len(data)):
        got += dec.feed(data[i : i + 1])
    assert got == ITEMS


def test_msgpack_frames_carry_arrays_split_anywhere() -> None:
    items = [{"scores": ARRAYS["jets"][i]} for i in range(3)]
    data = _stream(MSGPACK, items)
    for cut in range(0, len(data) + 1, 97):
        dec = FrameDecoder(MSGPACK)
        got = dec.feed(data[:cut]) + dec.feed(data[cut:])
        assert len(got) == 3
        for a, b in zip(items, got, strict=True):
            _same(a["scores"], b["scores"])


def test_json_media_means_ndjson_frames() -> None:
    assert encode_frame({"a": 1}, JSON) == b'{"a":1}\n'
    assert FrameDecoder(JSON).feed(b'{"a":1}\n{"a":2}\n') == [{"a": 1}, {"a": 2}]


def test_sse_frame_format_and_done() -> None:
    assert encode_frame({"a": 1}, SSE) == b'data: {"a":1}\n\n'
    dec = FrameDecoder(SSE)
    assert dec.feed(b'data: {"a":1}\n\ndata: [DONE]\n\ndata: {"a":2}\n\n') == [{"a": 1}]
    assert dec.done
    assert dec.feed(b'data: {"a":3}\n\n') == []


def test_sse_crlf_comments_and_fields() -> None:
    raw = b': keep-alive\r\n\r\nevent: message\r\nid: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
    for cut in range(len(raw) + 1):
        dec = FrameDecoder(SSE)
        assert dec.feed(raw[:cut]) + dec.feed(raw[cut:]) == [{"a": 1}], cut


def test_truncated_streams_are_detected() -> None:
    for media in (NDJSON, MSGPACK, SSE):
        data = _stream(media, [{"x": 1}, {"y": "long enough"}])
        dec = FrameDecoder(media)
        dec.feed(data[:-3])
        with pytest.raises(CodecError, match="middle of a frame"):
            dec.finish()


def test_bad_frames_raise_codec_error() -> None:
    with pytest.raises(CodecError):
        FrameDecoder(NDJSON).feed(b"{nope}\n")
    with pytest.raises(CodecError):
        FrameDecoder(SSE).feed(b"data: {nope}\n\n")
    with pytest.raises(CodecError):
        FrameDecoder(MSGPACK).feed(b"\xc1")


def test_stream_error_frames() -> None:
    err = {"message": "m.f raised ValueError: x", "type": "server_error", "code": "model_error"}
    assert stream_error({ERROR_KEY: err}, NDJSON) == err
    assert stream_error({ERROR_KEY: err}, MSGPACK) == err
    assert stream_error({"error": err}, SSE) == err
    assert stream_error({"error": err, "choices": []}, SSE) is None
    assert stream_error({"i": 1}, NDJSON) is None
    assert stream_error([1], SSE) is None


def test_json_encoding_matches_orjson() -> None:
    value = {"a": [1, 2.5, "x"], "b": None}
    assert encode(value, JSON) == orjson.dumps(value)
