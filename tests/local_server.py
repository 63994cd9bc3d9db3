"""The base of the test stand-ins: an aiohttp application served on 127.0.0.1 at a free port (the demo's
:class:`~etdb_explore.demo.homes.LoopbackServer`: subclasses add their routes in ``routes``; ``url`` is the base URL,
plus ``url_path``, once entered)."""

from __future__ import annotations

from etdb_explore.demo.homes import LoopbackServer as LocalServer

__all__ = ["LocalServer"]
