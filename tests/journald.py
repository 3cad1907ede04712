# SPDX-License-Identifier: MIT
# A minimal receiver of the journal's native datagrams, for the journal
# tests: binds PATH, writes each datagram to OUT decoded into NAME=value
# lines followed by a line "--", and touches OUT.ready once listening.
import socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(out + ".ready", "w").close()
while True:
    d = s.recv(262144)
    fields, i = [], 0
    while i < len(d):
        nl = d.index(b"\n", i)
        line = d[i:nl]
        if b"=" in line:
            fields.append(line); i = nl + 1
        else:   # binary form: NAME\n<le64 size><value>\n
            size = int.from_bytes(d[nl + 1:nl + 9], "little")
            fields.append(line + b"=" + d[nl + 9:nl + 9 + size]); i = nl + 9 + size + 1
    with open(out, "ab") as f:
        f.write(b"\n".join(fields) + b"\n--\n")
