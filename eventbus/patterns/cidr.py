"""IP addresses and CIDR blocks, recognised the way event-ruler recognises them.

A string is an IP address only if it looks like one before it is parsed (four dotted decimal
groups, or hex digits and colons), so ``"::ffff:1.2.3.4"`` or a host name never is; this keeps
matching cheap and agrees with event-ruler, which gates ``InetAddress`` with the same shapes.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["CidrError", "IpNetwork", "parse_cidr", "parse_ip"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")
_MASK = re.compile(r"[+-]?[0-9]+")


class CidrError(ValueError):
    """A ``cidr`` value event-ruler refuses; the message is its text."""


def parse_ip(text: str) -> IpAddress | None:
    """The address ``text`` spells, or None when it is not an IP address literal."""
    if not (_IPV4.fullmatch(text) or _IPV6.fullmatch(text)):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_cidr(text: str) -> IpNetwork:
    """``"10.0.0.0/24"`` -> ``IPv4Network('10.0.0.0/24')``; host bits are ignored."""
    parts = text.split("/")
    while len(parts) > 1 and not parts[-1]:
        parts.pop()  # Java's String.split drops trailing empty strings
    if len(parts) != 2:
        raise CidrError("Malformed CIDR, one '/' required")
    if not _MASK.fullmatch(parts[1]):
        raise CidrError("Malformed CIDR, mask bits must be an integer")
    bits = int(parts[1])
    if bits < 0:
        raise CidrError("Malformed CIDR, mask bits must not be negative")
    address = _parse_address(parts[0])
    if address.version == 4 and bits > 31:
        raise CidrError("IPv4 mask bits must be < 32")
    if address.version == 6 and bits > 127:
        raise CidrError("IPv6 mask bits must be < 128")
    return ipaddress.ip_network((address, bits), strict=False)


def _parse_address(text: str) -> IpAddress:
    if not (_IPV4.fullmatch(text) or _IPV6.fullmatch(text)):
        raise CidrError(f"Nonstandard IP address: {text}")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise CidrError(f"Invalid IP address: {text}") from None
