# APPEND under COMPRESS=DEFLATE (RFC 4978) from a client that flushes its
# compressor with zlib's Z_PARTIAL_FLUSH or Z_SYNC_FLUSH after each write,
# as mbsync and other zlib clients do, for messages of several sizes. Each
# command must be answered without the client sending more, and every
# message must be served back byte for byte.
import socket, sys, zlib

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sock = socket.create_connection((host, port), timeout=10)
buf = b""

def readline_plain():
    global buf
    while b"\r\n" not in buf:
        d = sock.recv(65536)
        assert d, "connection closed"
        buf += d
    line, buf = buf.split(b"\r\n", 1)
    return line

readline_plain()
sock.sendall(b"a LOGIN %s \"%s\"\r\n" % (user.encode(), password.encode()))
assert readline_plain().startswith(b"a OK"), "login"
sock.sendall(b"b COMPRESS DEFLATE\r\n")
assert readline_plain().startswith(b"b OK"), "compress"
assert buf == b""

comp = zlib.compressobj(6, zlib.DEFLATED, -15)
decomp = zlib.decompressobj(-15)
out = b""

def send(data, mode):
    sock.sendall(comp.compress(data) + comp.flush(mode))

def readline():
    global out
    while b"\r\n" not in out:
        d = sock.recv(65536)
        assert d, "connection closed"
        out += decomp.decompress(d)
    line, out = out.split(b"\r\n", 1)
    return line

def read_until(tag):
    lines = []
    while True:
        l = readline()
        lines.append(l)
        if l.startswith(tag + b" "):
            return lines

def body(n, seed):
    head = b"Subject: size %d\r\n\r\n" % n
    line = (b"%d line of text with some words\r\n" % seed)
    b = head + line * (max(0, n - len(head)) // len(line) + 1)
    return b[:max(n, len(head))]

n = 0
for mode, name in ((zlib.Z_PARTIAL_FLUSH, "partial"), (zlib.Z_SYNC_FLUSH, "sync")):
    for size in (20, 100, 541, 4095, 70000, 300000):
        n += 1
        msg = body(size, n)
        tag = b"p%d" % n
        # Non-synchronizing literal (RFC 7888): the command, the literal
        # and the CRLF in one flush, like mbsync's upload.
        send(tag + b" APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n", mode)
        last = read_until(tag)[-1]
        assert last.startswith(tag + b" OK"), (name, size, last)
        # Synchronizing literal: the command, then the bytes after "+".
        n += 1
        tag = b"s%d" % n
        send(tag + b" APPEND INBOX {%d}\r\n" % len(msg), mode)
        cont = readline()
        assert cont.startswith(b"+"), (name, size, cont)
        send(msg + b"\r\n", mode)
        last = read_until(tag)[-1]
        assert last.startswith(tag + b" OK"), (name, size, last)
        # Pipelined: a NOOP in the same flush as the end of an APPEND.
        n += 1
        tag = b"q%d" % n
        send(tag + b" APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n" + b"n%d NOOP\r\n" % n, mode)
        assert read_until(tag)[-1].startswith(tag + b" OK"), (name, size)
        assert read_until(b"n%d" % n)[-1].startswith(b"n%d OK" % n), (name, size)

# Every message back, as stored.
send(b"x SELECT INBOX\r\n", zlib.Z_SYNC_FLUSH)
read_until(b"x")
k = 0
for mode in ("partial", "sync"):
    for size in (20, 100, 541, 4095, 70000, 300000):
        for _ in range(3):
            k += 1
            want = body(size, (k - 1) // 3 * 3 + 1)
            send(b"f%d FETCH %d BODY.PEEK[]\r\n" % (k, k), zlib.Z_SYNC_FLUSH)
            head = readline()
            assert head.endswith(b"}"), head
            lit = int(head[head.rindex(b"{") + 1:-1])
            while len(out) < lit:
                out += decomp.decompress(sock.recv(65536))
            got, out = out[:lit], out[lit:]
            assert got == want, (mode, size, k, len(got), len(want))
            read_until(b"f%d" % k)
print("ok", k)
