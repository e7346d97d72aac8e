"""Where others can reach ``ganpaint serve``: the URLs to type (or scan) printed at start.

    join_urls("0.0.0.0", 8000)   # ["http://192.168.1.20:8000/", ...]: every non-loopback IPv4 address here
    join_urls("127.0.0.1", 8000) # ["http://127.0.0.1:8000/"]: this machine only
    print(join_message("0.0.0.0", 8000))   # the URLs, and a QR code of the first one drawn in the terminal

A server listening on every interface (``--host 0.0.0.0``) is reached at this machine's own addresses, never at
``0.0.0.0``. The addresses come from the kernel's interface list (Linux ``SIOCGIFADDR``; elsewhere the host
name's addresses). QR codes: segno (pure Python, no dependencies, drawn with block characters), so a class can
join from a projected terminal, offline.
"""

from __future__ import annotations

import fcntl
import io
import ipaddress
import socket
import struct

SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address
ANY = {"0.0.0.0", "::", ""}


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback, in interface order."""
    found: list[str] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name in names:
            try:
                packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address on this interface (or not Linux)
                continue
            found.append(socket.inet_ntoa(packed[20:24]))
    if not found:
        try:
            found = [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
        except OSError:
            found = []
    return list(dict.fromkeys(a for a in found if not ipaddress.ip_address(a).is_loopback))


def join_urls(host: str, port: int) -> list[str]:
    """The URLs of a server listening on ``host``:``port`` (this machine's addresses for 0.0.0.0 / ::)."""
    hosts = lan_addresses() if host in ANY else [host]
    return [f"http://{f'[{h}]' if ':' in h else h}:{port}/" for h in hosts] or [f"http://127.0.0.1:{port}/"]


def join_message(host: str, port: int, qr: bool = True) -> str:
    """What ``ganpaint serve`` prints: where to open the page, and for a LAN server a QR code to scan."""
    urls = join_urls(host, port)
    if host not in ANY and ipaddress.ip_address(host if host != "localhost" else "127.0.0.1").is_loopback:
        return f"open {urls[0]} on this machine (others cannot reach it: --host 0.0.0.0 listens on the network)"
    lines = ["students and other machines on this network open:"] + [f"  {u}" for u in urls]
    if host in ANY and urls[0].startswith("http://127.0.0.1"):
        lines.append("  (no network address found: is this machine connected?)")
    if qr:
        import segno

        drawn = io.StringIO()
        segno.make(urls[0], error="m").terminal(out=drawn, compact=True, border=2)
        lines.append(drawn.getvalue().rstrip("\n"))
    return "\n".join(lines)
