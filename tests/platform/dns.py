"""The test node's cluster DNS: A records of Services (``<svc>.<ns>.svc.cluster.local`` → the
ClusterIP), read from the API server on each query, served over UDP inside the node's network
namespace (the kubelet's ``clusterDNS``). Enough for pods to reach Services by name the way
they do on a cluster with CoreDNS; every other name is NXDOMAIN (there is no upstream here)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable

from kubernetes import client

CLUSTER_DOMAIN = "cluster.local"
A, AAAA = 1, 28
NOERROR, FORMERR, NXDOMAIN = 0, 1, 3
TTL = 5


def parse_question(packet: bytes) -> tuple[int, int, str, int, int]:
    """(id, flags, name, qtype, end of the question) of a one-question query."""
    if len(packet) < 12:
        raise ValueError("short header")
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        raise ValueError("one question expected")
    labels, pos = [], 12
    while True:
        if pos >= len(packet):
            raise ValueError("truncated name")
        length = packet[pos]
        pos += 1
        if length == 0:
            break
        if length > 63:
            raise ValueError("compressed or bad label")
        labels.append(packet[pos : pos + length].decode("ascii", "replace"))
        pos += length
    if pos + 4 > len(packet):
        raise ValueError("truncated question")
    qtype, _qclass = struct.unpack("!HH", packet[pos : pos + 4])
    return ident, flags, ".".join(labels).lower(), qtype, pos + 4


def answer(packet: bytes, resolve: Callable[[str], str | None]) -> bytes:
    """The response to ``packet``: the ClusterIP for an A query of a known Service, no answer
    (NOERROR) for its other types, NXDOMAIN for any other name, FORMERR when unparseable."""
    try:
        ident, flags, name, qtype, end = parse_question(packet)
    except ValueError:
        ident = struct.unpack("!H", packet[:2])[0] if len(packet) >= 2 else 0
        return struct.pack("!HHHHHH", ident, 0x8000 | FORMERR, 0, 0, 0, 0)
    ip = resolve(name)
    rd = flags & 0x0100
    # QR, AA, RD copied; RA unset (no recursion here)
    base = 0x8000 | 0x0400 | rd
    question = packet[12:end]
    if ip is None:
        return struct.pack("!HHHHHH", ident, base | NXDOMAIN, 1, 0, 0, 0) + question
    if qtype != A:
        return struct.pack("!HHHHHH", ident, base | NOERROR, 1, 0, 0, 0) + question
    record = struct.pack("!HHHIH", 0xC00C, A, 1, TTL, 4) + socket.inet_aton(ip)
    return struct.pack("!HHHHHH", ident, base | NOERROR, 1, 1, 0, 0) + question + record


class ClusterDns:
    """Answers on ``sock`` (already bound inside the node's namespace) from the API server."""

    def __init__(self, sock: socket.socket, api: client.ApiClient) -> None:
        self.sock = sock
        self.api = api
        self.core = client.CoreV1Api(api)
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, name="cluster-dns", daemon=True)
        self._stopped = threading.Event()

    def service_ip(self, name: str) -> str | None:
        suffix = f".svc.{CLUSTER_DOMAIN}"
        if not name.endswith(suffix):
            return None
        parts = name[: -len(suffix)].split(".")
        if len(parts) != 2:
            return None
        try:
            svc = self.core.read_namespaced_service(parts[0], parts[1], _request_timeout=2)
        except client.ApiException:
            return None
        ip = svc.spec.cluster_ip
        return ip if ip and ip != "None" else None

    def start(self) -> None:
        self.sock.settimeout(0.5)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self.sock.close()
        self.api.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                packet, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            try:
                self.sock.sendto(answer(packet, self.service_ip), peer)
            except OSError:
                continue


def bind_udp(host: str, port: int = 53) -> socket.socket:
    """A UDP socket bound in the calling thread's network namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    return sock
