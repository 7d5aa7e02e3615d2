"""Classroom sharing: the address students type (or scan) to open the app on their own phones, and its QR code.

The address is this computer's address on the local network, read from its network interfaces: private IPv4
addresses of interfaces that are up, real ones (Wi-Fi, Ethernet) before virtual bridges and VPN tunnels, never
loopback or link-local. Nothing is sent anywhere to find it.
"""

from __future__ import annotations

import io
import ipaddress
import socket

import psutil
import qrcode
import qrcode.constants

#: Interface name prefixes of virtual networks (containers, VMs, VPNs): other machines in the room rarely reach them.
VIRTUAL_INTERFACES = ("docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "lxc", "cni", "flannel", "tun", "tap",
                      "utun", "wg", "zt", "tailscale", "ham")
#: Addresses that mean "every interface" when a server is told to listen on them.
ANY_ADDRESS = ("", "0.0.0.0", "::")


def lan_addresses() -> list[str]:
    """This computer's IPv4 addresses that others on the local network can reach, the likeliest first."""
    stats = psutil.net_if_stats()
    found = []
    for interface, addresses in psutil.net_if_addrs().items():
        if interface in stats and not stats[interface].isup:
            continue
        for address in addresses:
            if address.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(address.address)
            if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
                continue
            found.append(((interface.startswith(VIRTUAL_INTERFACES), not ip.is_private, interface), address.address))
    return [address for _, address in sorted(found)]


def share_addresses(server_address: str | None) -> list[str]:
    """The hosts students can use to reach a server listening on `server_address` (Streamlit's
    `server.address`): every LAN address when it listens on all of them, that one address when it is bound to one,
    none when it only listens on this computer."""
    if server_address in (None, *ANY_ADDRESS):
        return lan_addresses()
    try:
        if ipaddress.ip_address(server_address).is_loopback:
            return []
    except ValueError:  # a host name
        if server_address == "localhost":
            return []
    return [server_address]


def app_url(host: str, port: int, base_path: str = "", page: str = "") -> str:
    """"http://192.168.1.20:8501/predict": the app at `host`, under Streamlit's `server.baseUrlPath`, on `page`."""
    path = "/".join(part.strip("/") for part in (base_path, page) if part and part.strip("/"))
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/{path}"


def qr_png(text: str, box_pixels: int = 10) -> bytes:
    """A QR code of `text` as PNG bytes: black modules on white, with the standard quiet zone of 4 modules."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_pixels, border=4)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
