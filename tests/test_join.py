"""The URLs ``ganpaint serve`` prints (api/join.py): this machine's addresses for 0.0.0.0, never 0.0.0.0 itself;
a QR code of the first; a loopback server says others cannot reach it."""

from __future__ import annotations

import ipaddress

from ganpaint.api import join


def test_every_interface_means_this_machines_addresses(monkeypatch):
    monkeypatch.setattr(join, "lan_addresses", lambda: ["192.168.1.20", "10.0.0.7"])
    assert join.join_urls("0.0.0.0", 8000) == ["http://192.168.1.20:8000/", "http://10.0.0.7:8000/"]
    text = join.join_message("0.0.0.0", 8000)
    assert "http://192.168.1.20:8000/" in text and "0.0.0.0" not in text
    assert "▀" in text or "█" in text  # the QR code, drawn with block characters
    assert join.join_urls("192.168.1.20", 9000) == ["http://192.168.1.20:9000/"]


def test_no_network_and_loopback(monkeypatch):
    monkeypatch.setattr(join, "lan_addresses", lambda: [])
    assert "no network address found" in join.join_message("0.0.0.0", 8000, qr=False)
    text = join.join_message("127.0.0.1", 8000)
    assert text.startswith("open http://127.0.0.1:8000/ on this machine") and "--host 0.0.0.0" in text


def test_lan_addresses_are_real_and_not_loopback():
    for address in join.lan_addresses():  # whatever this machine has (possibly none in a sandbox)
        assert not ipaddress.ip_address(address).is_loopback
