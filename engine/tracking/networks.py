"""Which of the rules' networks a client address falls in, in about a microsecond.

Every open and click asks this, on the relay and the local tracking server.
``ipaddress.ip_address`` and ``address in network`` over a list cost tens of
microseconds a request; here the networks are merged into sorted ranges of
integers once, when the rules are loaded, and an address is parsed with
``socket.inet_pton`` and found by bisection. An address ``inet_pton`` does
not take (an IPv6 scope such as ``%eth0``) goes the slow, general way.
"""

from __future__ import annotations

import ipaddress
import socket
from bisect import bisect_right
from collections.abc import Iterable
from typing import Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class NetworkSet:
    """Networks as merged ``[first, last]`` integer ranges, one sorted list per IP version."""

    __slots__ = ("_starts", "_ends")

    def __init__(self, networks: Iterable[Network]) -> None:
        ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for net in networks:
            ranges[net.version].append((int(net.network_address), int(net.broadcast_address)))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, spans in ranges.items():
            merged: list[list[int]] = []
            for first, last in sorted(spans):
                if merged and first <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], last)
                else:
                    merged.append([first, last])
            self._starts[version] = [m[0] for m in merged]
            self._ends[version] = [m[1] for m in merged]

    def __bool__(self) -> bool:
        return bool(self._starts[4] or self._starts[6])

    def contains(self, version: int, number: int) -> bool:
        starts = self._starts[version]
        i = bisect_right(starts, number) - 1
        return i >= 0 and number <= self._ends[version][i]


def parse_address(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``(version, integer)`` of a client address (IPv4-mapped IPv6 as IPv4), or None if it is none."""
    if not text:
        return None
    text = text.strip()
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
        number = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except OSError:
        return _parse_slowly(text)
    if number >> 32 == 0xFFFF:  # ::ffff:a.b.c.d, an IPv4 client on an IPv6 socket
        return 4, number & 0xFFFFFFFF
    return 6, number


def _parse_slowly(text: str) -> Optional[tuple[int, int]]:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    return ip.version, int(ip)
