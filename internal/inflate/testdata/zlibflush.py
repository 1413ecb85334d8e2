#!/usr/bin/env python3
"""Writes the *.flush.bin streams that inflate_test.go replays.

Each file is a raw DEFLATE stream (zlib with wbits=-15, as IMAP COMPRESS
clients use it) cut where the compressor was flushed. It is a sequence of
records, each a 4-byte big-endian length and that many bytes of plain
text, then a 4-byte big-endian length and that many bytes of the stream:
everything zlib wrote for that plain text, up to and including its flush.
A decoder given a record's stream bytes must produce its plain text
without any of the bytes that follow.

Run from this directory: python3 zlibflush.py
"""

import random
import struct
import zlib

MODES = {
    "partial": zlib.Z_PARTIAL_FLUSH,
    "sync": zlib.Z_SYNC_FLUSH,
    "full": zlib.Z_FULL_FLUSH,
}


def write(name, chunks, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, modes=None):
    """chunks: plain byte strings; modes: the flush after each (default partial)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    out = bytearray()
    for i, plain in enumerate(chunks):
        mode = MODES[modes[i] if modes else "partial"]
        data = c.compress(plain) + c.flush(mode)
        out += struct.pack(">I", len(plain)) + plain
        out += struct.pack(">I", len(data)) + data
    with open(name + ".flush.bin", "wb") as f:
        f.write(out)


def fetches(first, n):
    """n pipelined commands as mbsync sends them when it downloads messages."""
    return b"".join(
        b"%d UID FETCH %d (BODY.PEEK[] BODY.PEEK[HEADER.FIELDS (X-TUID)] FLAGS INTERNALDATE RFC822.SIZE)\r\n"
        % (first + i, 1 + i)
        for i in range(n)
    )


def session():
    """The commands of an mbsync run up to its downloads."""
    return [
        b"3 NAMESPACE\r\n",
        b'4 LIST "" "*"\r\n',
        b"5 SELECT INBOX\r\n",
        b"6 UID FETCH 1:1000000000 (UID FLAGS)\r\n",
    ]


def main():
    for n in (10, 11):
        write("fetch%d" % n, [fetches(1, n)])
        write("session-fetch%d" % n, session() + [fetches(7, n)])
    for mode in MODES:
        for level in (1, 6, 9):
            cmds = session() + [fetches(7 + 20 * i, 20) for i in range(5)] + [b"99 LOGOUT\r\n"]
            write("session-%s-%d" % (mode, level), cmds, level=level, modes=[mode] * len(cmds))
    for name, strategy in (
        ("fixed", zlib.Z_FIXED),
        ("huffman", zlib.Z_HUFFMAN_ONLY),
        ("rle", zlib.Z_RLE),
        ("filtered", zlib.Z_FILTERED),
    ):
        write("session-partial-" + name, session() + [fetches(7, 11)], strategy=strategy)

    rnd = random.Random(4978)
    words = [b"UID", b"FETCH", b"BODY.PEEK[]", b"FLAGS", b"(\\Seen)", b"INBOX", b"Subject:", b"\r\n", b" "]

    def text(n):
        return b"".join(rnd.choice(words) for _ in range(n))[: n * 4]

    # An APPEND whose literal spans many blocks, flushed once at its end.
    literal = b"".join(text(20) + b"\r\n" for _ in range(800))
    write("append", [b'8 APPEND INBOX {%d+}\r\n' % len(literal) + literal + b"\r\n", b"9 NOOP\r\n"])

    # Every bit alignment: short chunks of text and bytes, each flushed
    # in a mode chosen at random.
    chunks, modes = [], []
    for _ in range(400):
        if rnd.random() < 0.3:
            chunks.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40))))
        else:
            chunks.append(text(rnd.randrange(1, 30)))
        modes.append(rnd.choice(list(MODES)))
    write("mixed", chunks, modes=modes)
    write("mixed-partial", chunks)
    write("bytes-partial", [bytes([rnd.randrange(256)]) for _ in range(300)], level=9)


if __name__ == "__main__":
    main()
