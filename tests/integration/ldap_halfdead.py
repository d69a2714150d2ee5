#!/usr/bin/env python3
"""A provider that is up but stuck: it accepts connections and answers
every LDAP bind with success, then never answers anything else (as a
slapd whose backend hangs would); with the argument "silent", not even
the bind (a hung slapd, or one behind a link that went dead). Prints its
port, then serves until killed."""
import socket
import sys
import threading

SILENT = sys.argv[1:] == ["silent"]


def length(data, i):
    """The BER length at data[i]: (length, index after it), or None."""
    if i >= len(data):
        return None
    first = data[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or i + 1 + n > len(data):
        return None
    return int.from_bytes(data[i + 1:i + 1 + n], "big"), i + 1 + n


def serve(conn):
    buf = b""
    with conn:
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 2 and buf[0] == 0x30:
                got = length(buf, 1)
                if got is None or got[1] + got[0] > len(buf):
                    break
                body_len, start = got
                msg, buf = buf[start:start + body_len], buf[start + body_len:]
                # messageID INTEGER, then the operation's tag.
                if len(msg) < 3 or msg[0] != 0x02:
                    return
                idlen = msg[1]
                msgid = msg[2:2 + idlen]
                op = msg[2 + idlen] if len(msg) > 2 + idlen else None
                if op == 0x60 and not SILENT:  # BindRequest: success
                    body = b"\x02" + bytes([idlen]) + msgid + b"\x61\x07\x0a\x01\x00\x04\x00\x04\x00"
                    conn.sendall(b"\x30" + bytes([len(body)]) + body)
                # Anything else: no answer, ever.


def main():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print(s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
