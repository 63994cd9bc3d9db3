"""The base of the test stand-ins: an aiohttp application served on 127.0.0.1 at a free port."""

from __future__ import annotations

from aiohttp import web


class LocalServer:
    """Subclasses add their routes in ``routes``; ``url`` is the base URL (plus ``url_path``) once entered."""

    url_path = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self):
        app = web.Application(client_max_size=1 << 30)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{self.url_path}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
