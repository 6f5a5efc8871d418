#!/usr/bin/env python3
"""rotating-dns: a test upstream whose round-robin name changes its answer
on every query, as DNS load balancers do: each query for ROTATING gets ONE
of its addresses, the next one the next (TTL --ttl). Every other name of
--name NAME=ADDR gets its address; anything else NXDOMAIN. Logs each query
name to --log. UDP only; a test fixture, not a server.

  rotating-dns.py --listen ADDR --rotating NAME=A1,A2,A3 --name N=A ... --log FILE
"""
import argparse, socket, struct

p = argparse.ArgumentParser()
p.add_argument("--listen", required=True)
p.add_argument("--rotating", required=True)
p.add_argument("--name", action="append", default=[])
p.add_argument("--ttl", type=int, default=30)
p.add_argument("--log", required=True)
a = p.parse_args()
rname, raddrs = a.rotating.split("=")
rotating = raddrs.split(",")
fixed = dict(n.split("=") for n in a.name)
turn = 0
log = open(a.log, "a", buffering=1)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((a.listen, 53))
while True:
    msg, peer = s.recvfrom(4096)
    if len(msg) < 12:
        continue
    qid, flags, qd = struct.unpack(">HHH", msg[:6])
    # The question: labels up to the root, then type and class.
    i, labels = 12, []
    try:
        while msg[i]:
            labels.append(msg[i + 1:i + 1 + msg[i]].decode("ascii").lower())
            i += 1 + msg[i]
        qtype, = struct.unpack(">H", msg[i + 1:i + 3])
    except (IndexError, UnicodeDecodeError, struct.error):
        continue
    question = msg[12:i + 5]
    name = ".".join(labels)
    log.write(f"{name} {qtype}\n")
    addr = None
    if name == rname:
        addr = rotating[turn % len(rotating)]
        turn += 1
    elif name in fixed:
        addr = fixed[name]
    rd = flags & 0x0100
    if addr is None:
        s.sendto(struct.pack(">HHHHHH", qid, 0x8403 | rd, 1, 0, 0, 0) + question, peer)
    elif qtype != 1:
        s.sendto(struct.pack(">HHHHHH", qid, 0x8400 | rd, 1, 0, 0, 0) + question, peer)
    else:
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, a.ttl, 4) + socket.inet_aton(addr)
        s.sendto(struct.pack(">HHHHHH", qid, 0x8400 | rd, 1, 1, 0, 0) + question + answer, peer)
