"""Incremental decoding and re-encoding of a response body's ``Content-Encoding``.

The codings browsers accept: gzip (``x-gzip`` too), deflate (zlib-wrapped, or raw deflate as
browsers also accept it), br and zstd. Decoders hand out bounded pieces, so a small, highly
compressed chunk cannot expand into one huge buffer; they raise ``DecodeError`` for corrupt
data, and ``finish()`` raises it for a stream cut short. Like browsers, bytes after the end of
the (first) compressed stream are ignored. Encoders flush at each ``flush()``, so a streamed
page reaches the browser chunk by chunk, as the app sent it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Protocol

import brotli
import zstandard

PIECE = 64 * 1024  # the most a decoder hands out at once
ZSTD_INPUT = 8 * 1024  # zstd has no output limit per call: feed it small input slices
# Levels for a stream or a page seen once: fast, within a few percent of the app's own size.
FAST = {"gzip": 4, "deflate": 4, "br": 4, "zstd": 3}
# For a page the gateway sends many times (``thorough``): on the 50 KB benchmark page gzip 9
# takes 2.9 ms and is 7% smaller than 4, brotli 6 1.2 ms and 7% smaller, zstd 12 2.7 ms and
# 8% smaller (brotli 9 would take 11 ms for another 1.5%).
THOROUGH = {"gzip": 9, "deflate": 9, "br": 6, "zstd": 12}
ZLIB_SNIFF_BYTES = 1000  # as Chromium: a zlib header failing within this many bytes is raw


class DecodeError(Exception):
    """The body is not valid in its declared coding (corrupt, or cut short)."""


class Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, in pieces of at most ``PIECE`` bytes."""

    def finish(self) -> None:
        """Raises ``DecodeError`` when the stream ended before its end marker."""


class Encoder(Protocol):
    def encode(self, data: bytes) -> bytes:
        """Compressed bytes for ``data`` (the coder may keep some back until ``flush``)."""

    def flush(self) -> bytes:
        """Everything encoded so far, decodable by the browser now."""

    def finish(self) -> bytes:
        """The end of the stream."""


def normalise(content_encoding: bytes | None) -> str:
    """The coding named by a ``Content-Encoding`` value: "" for none or identity."""
    if content_encoding is None:
        return ""
    name = content_encoding.strip().lower().decode("latin-1")
    if name in ("", "identity"):
        return ""
    return "gzip" if name == "x-gzip" else name


SUPPORTED = frozenset({"", "gzip", "deflate", "br", "zstd"})


def preferred(accept_encoding: str | None, offered: Iterable[str]) -> str:
    """The coding of ``offered`` (the server's order of preference) that an
    ``Accept-Encoding`` value rates highest, or "" for identity: when it accepts none of
    them, or rates identity higher. As RFC 9110: ``q=0`` refuses, ``*`` rates the codings
    not named, and identity not named is acceptable, but last."""
    if not accept_encoding:
        return ""
    ratings: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, parameters = item.partition(";")
        name = name.strip().lower()
        if name:
            ratings["gzip" if name == "x-gzip" else name] = _quality(parameters)
    anything = ratings.get("*", 0.0)
    best = max(offered, key=lambda coding: ratings.get(coding, anything), default="")
    rating = ratings.get(best, anything)
    return best if best and rating > 0 and rating >= ratings.get("identity", 0.0) else ""


def _quality(parameters: str) -> float:
    """The ``q`` of one ``Accept-Encoding`` item: 1 when absent, 0 when not a valid one."""
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def decoder(coding: str) -> Decoder:
    """A decoder for ``coding`` (one of ``SUPPORTED``)."""
    if coding == "":
        return _Identity()
    if coding == "gzip":
        return _Zlib(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return _Deflate()
    if coding == "br":
        return _Brotli()
    if coding == "zstd":
        return _Zstd()
    raise ValueError(f"unsupported content coding {coding!r}")


def encoder(coding: str, like: Decoder | None = None, *, thorough: bool = False) -> Encoder:
    """An encoder for ``coding``; for deflate, ``like`` tells which wrapper the app used.
    Fast settings by default (a stream, a page seen once); ``thorough``: the smaller output
    of ``THOROUGH``, worth its time for bytes that are sent again and again."""
    if coding == "":
        return _IdentityEncoder()
    if coding not in FAST:
        raise ValueError(f"unsupported content coding {coding!r}")
    level = (THOROUGH if thorough else FAST)[coding]
    if coding == "gzip":
        return _ZlibEncoder(zlib.MAX_WBITS | 16, level)
    if coding == "deflate":
        raw = isinstance(like, _Deflate) and like.raw
        return _ZlibEncoder(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS, level)
    if coding == "br":
        return _BrotliEncoder(level)
    return _ZstdEncoder(level)


def decode_all(coding: str, data: bytes) -> bytes:
    """The whole decoded body (tests and one-message bodies)."""
    decoding = decoder(coding)
    out = b"".join(decoding.decode(data))
    decoding.finish()
    return out


def encode_all(coding: str, data: bytes, like: Decoder | None = None) -> bytes:
    encoding = encoder(coding, like)
    return encoding.encode(data) + encoding.finish()


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self) -> None:
        pass


class _IdentityEncoder:
    def encode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""

    def finish(self) -> bytes:
        return b""


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self._inflate = zlib.decompressobj(wbits)

    def decode(self, data: bytes) -> Iterator[bytes]:
        inflate = self._inflate
        if inflate.eof:
            return  # trailing bytes after the stream: browsers ignore them
        try:
            while True:
                out = inflate.decompress(data, PIECE)
                if out:
                    yield out
                data = inflate.unconsumed_tail
                if inflate.eof or (not data and len(out) < PIECE):
                    return
        except zlib.error as error:
            raise DecodeError(str(error)) from None

    def finish(self) -> None:
        if not self._inflate.eof:
            raise DecodeError("the compressed stream is cut short")


class _Deflate:
    """``deflate`` as browsers read it: zlib-wrapped, or raw deflate when the first bytes
    fail as zlib before producing anything (Chromium replays them as raw)."""

    def __init__(self) -> None:
        self.raw = False
        self._zlib = _Zlib(zlib.MAX_WBITS)
        self._seen = b""  # the input so far, until the choice is made
        self._sniffing = True

    def decode(self, data: bytes) -> Iterator[bytes]:
        if not self._sniffing:
            yield from self._zlib.decode(data)
            return
        self._seen += data
        try:
            pieces = list(_Zlib(zlib.MAX_WBITS).decode(self._seen))
        except DecodeError:
            self.raw = True
            self._zlib = _Zlib(-zlib.MAX_WBITS)
            self._sniffing = False
            yield from self._zlib.decode(self._seen)
            self._seen = b""
            return
        if pieces or len(self._seen) >= ZLIB_SNIFF_BYTES:
            self._sniffing = False
            self._zlib = _Zlib(zlib.MAX_WBITS)
            yield from self._zlib.decode(self._seen)
            self._seen = b""

    def finish(self) -> None:
        if self._sniffing:
            self._sniffing = False
            for _ in self._zlib.decode(self._seen):
                pass
        self._zlib.finish()


class _Brotli:
    def __init__(self) -> None:
        self._decompress = brotli.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        decompress = self._decompress
        if decompress.is_finished():
            return
        try:
            # The limit stops the output buffer growing once reached: it may overshoot.
            # can_accept_more_data() turns true before the pending output is drained.
            out = decompress.process(data, output_buffer_limit=PIECE)
            while out:
                yield from _pieces(out)
                if decompress.is_finished():
                    return
                out = decompress.process(b"", output_buffer_limit=PIECE)
        except brotli.error as error:
            raise DecodeError(str(error)) from None

    def finish(self) -> None:
        if not self._decompress.is_finished():
            raise DecodeError("the brotli stream is cut short")


class _Zstd:
    def __init__(self) -> None:
        # Browsers accept windows up to 8 MB (RFC 9659); a larger one is an error there too.
        context = zstandard.ZstdDecompressor(max_window_size=8 * 1024 * 1024)
        self._decompress = context.decompressobj()

    def decode(self, data: bytes) -> Iterator[bytes]:
        decompress = self._decompress
        try:
            for start in range(0, len(data), ZSTD_INPUT):
                if decompress.eof:
                    return
                yield from _pieces(decompress.decompress(data[start : start + ZSTD_INPUT]))
        except zstandard.ZstdError as error:
            raise DecodeError(str(error)) from None

    def finish(self) -> None:
        if not self._decompress.eof:
            raise DecodeError("the zstd frame is cut short")


def _pieces(out: bytes) -> Iterator[bytes]:
    if len(out) <= PIECE:
        if out:
            yield out
        return
    for offset in range(0, len(out), PIECE):
        yield out[offset : offset + PIECE]


class _ZlibEncoder:
    def __init__(self, wbits: int, level: int) -> None:
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, wbits)

    def encode(self, data: bytes) -> bytes:
        return self._deflate.compress(data)

    def flush(self) -> bytes:
        return self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._deflate.flush(zlib.Z_FINISH)


class _BrotliEncoder:
    def __init__(self, quality: int) -> None:
        self._compress = brotli.Compressor(mode=brotli.MODE_TEXT, quality=quality)

    def encode(self, data: bytes) -> bytes:
        out: bytes = self._compress.process(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._compress.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._compress.finish()
        return out


class _ZstdEncoder:
    def __init__(self, level: int) -> None:
        self._compress = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()

    def encode(self, data: bytes) -> bytes:
        return self._compress.compress(data)

    def flush(self) -> bytes:
        return self._compress.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self._compress.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
