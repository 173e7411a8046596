"""The test node's cluster DNS answers (tests/platform/dns.py): A records for known Services,
NOERROR without answers for their other types, NXDOMAIN otherwise, FORMERR for garbage."""

from __future__ import annotations

import socket
import struct

from tests.platform.dns import AAAA, A, answer, parse_question

KNOWN = {"db.ns.svc.cluster.local": "10.0.0.7"}


def query(name: str, qtype: int = A, ident: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, 1)
    )


def header(packet: bytes) -> tuple[int, int, int, int]:
    ident, flags, qd, an = struct.unpack("!HHHH", packet[:8])
    return ident, flags & 0xF, qd, an


def test_a_known_service_gets_its_cluster_ip() -> None:
    reply = answer(query("DB.ns.svc.cluster.local"), KNOWN.get)
    assert header(reply) == (0x1234, 0, 1, 1)
    assert reply[-4:] == socket.inet_aton("10.0.0.7")
    assert reply[:2] == b"\x12\x34" and reply[2] & 0x80  # same id, a response


def test_other_types_of_a_known_name_have_no_answer() -> None:
    assert header(answer(query("db.ns.svc.cluster.local", AAAA), KNOWN.get)) == (0x1234, 0, 1, 0)


def test_unknown_names_are_nxdomain() -> None:
    assert header(answer(query("db.ns.svc.ns.svc.cluster.local"), KNOWN.get))[1] == 3
    assert header(answer(query("example.com"), KNOWN.get))[1] == 3


def test_garbage_is_formerr() -> None:
    assert header(answer(b"\x00\x07" + b"\xff" * 20, KNOWN.get))[1] == 1
    assert answer(b"", KNOWN.get)[3] & 0xF == 1


def test_parse_question() -> None:
    ident, _flags, name, qtype, end = parse_question(query("a.b", AAAA, ident=7))
    assert (ident, name, qtype, end) == (7, "a.b", AAAA, 12 + 5 + 4)
