"""Who may write: a bearer key of the site, from an allowed address (SPEC §5)."""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web

from config import SiteSettings
from config.settings import IPNetwork
from proxy.errors import Forbidden, Unauthorized


def client_address(request: web.Request, trusted: tuple[IPNetwork, ...]) -> str:
    """The peer address, or the X-Forwarded-For hop just before our trusted proxies.

    The header is read right to left and only while the hop that added an entry is itself
    trusted, so an untrusted client cannot spoof its address by sending the header.
    """
    address = request.remote or ""
    # Several header lines are one list, in order (RFC 9110 §5.3): a proxy that adds its own
    # line after the client's (HAProxy `option forwardfor`) must not let the client's decide.
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", ()))
    hops = [hop.strip() for hop in forwarded.split(",")]
    hops = [hop for hop in hops if hop]
    while hops and _inside(address, trusted):
        address = hops.pop()
    return address


def authorize(request: web.Request, site: SiteSettings, trusted: tuple[IPNetwork, ...]) -> None:
    """Raise Forbidden for an address outside the allow-list, Unauthorized for a bad key.

    The address is checked first so a disallowed network learns nothing about keys.
    """
    if not _inside(client_address(request, trusted), site.upload_allow):
        raise Forbidden()
    if not site.upload_keys:
        raise Unauthorized("uploads are disabled for this site: no upload_keys configured")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    valid = scheme.lower() == "bearer" and presented != ""
    # aiohttp decodes header bytes that are not UTF-8 as surrogate escapes; encoding them
    # back the same way gives the bytes as sent (which then match no key) instead of a 500.
    offered = presented.encode("utf-8", "surrogateescape")
    # Compare against every key even after a match, so timing says nothing about which.
    matches = [hmac.compare_digest(offered, key.encode()) for key in site.upload_keys]
    if not (valid and any(matches)):
        raise Unauthorized()


def _inside(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
