"""The one place the HTTP client library (aiohttp) is used: the session a router's HTTP targets
share, one target's bounded use of it, and one request sent with its answer brought back as an
:class:`~eventbus.targets.http_response.Answer` with a capped body.

* :class:`Sessions` holds one ``aiohttp.ClientSession`` for all the targets of a router (one
  pool of kept-alive connections), made on first use inside the running loop and closed by the
  router. Its connector has no overall or per-host cap: the bound is per target.
* :class:`Client` is one target's use of it: at most ``connections`` requests in flight (the
  router sizes it to the lane's concurrency), so a slow target holds at most that many
  connections and never waits for ones another target on the same host holds.
* Proxies come from ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (read when the session is made).

The callers put each exchange under the client's
:class:`~eventbus.targets.http_deadline.Deadlines`; no timeout is set on the session, so the
deadline alone decides (waiting for a free connection included).
"""

from __future__ import annotations

import asyncio
import functools
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from yarl import URL

from eventbus.errors import TargetError
from eventbus.targets.http_deadline import Deadlines
from eventbus.targets.http_response import RESPONSE_BODY_MAX_BYTES, Answer, read_capped

# aiohttp is imported when a session is first made: a router whose rules have no HTTP target
# never needs it, and its import is a good part of a start's.
if TYPE_CHECKING:
    import aiohttp
    from aiohttp.helpers import ProxyInfo

__all__ = ["DEFAULT_CONNECTIONS", "Client", "Sessions", "fetch", "new_client", "parse_url"]

DEFAULT_CONNECTIONS: Final = 64  # a target built outside a router: the router's default lanes


class Sessions:
    """The aiohttp session of a router's HTTP targets, made on first use (an aiohttp session
    belongs to the loop it is made in, and targets are built before the loop may run)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, ProxyInfo] = {}
        self._environment: dict[str, str] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp
            from aiohttp.helpers import proxies_from_env

            # Proxies are read here once: aiohttp's own trust_env reads them, and .netrc, in a
            # worker thread on every request, and would add .netrc credentials a target's
            # Authorization header then clashes with.
            self._environment = urllib.request.getproxies_environment()
            self._proxies = proxies_from_env() if self._environment else {}
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(),  # none: the caller's deadline decides
                # No cookies: a session is shared by targets that must not see each other's.
                cookie_jar=aiohttp.DummyCookieJar(),
                # The body cap bounds memory only on the bytes as sent: a compressed body can
                # inflate a thousandfold in one chunk.
                auto_decompress=False,
            )
        return self._session

    def proxy(self, url: URL) -> ProxyInfo | None:
        """The proxy ``url`` goes through, if the environment names one and NO_PROXY allows."""
        if not self._proxies:
            return None
        found = self._proxies.get(url.scheme)
        # Against the environment read with the proxies, not read again on every request.
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if found is None or bypass(url.host or "", self._environment):
            return None
        return found

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class Client:
    """One target's way to a session: at most ``connections`` requests at once. A target built
    by a router shares the router's :class:`Sessions`; one built alone owns its own."""

    def __init__(self, sessions: Sessions, connections: int, *, owned: bool) -> None:
        self.sessions = sessions
        self.slots = asyncio.Semaphore(connections)
        self.deadlines = Deadlines()  # the total deadline of each exchange (token fetch included)
        self._owned = owned
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True
        if self._owned:
            await self.sessions.aclose()


def new_client(shared: Sessions | None = None, connections: int = DEFAULT_CONNECTIONS) -> Client:
    """A client on the ``shared`` sessions, or on a session of its own."""
    if shared is None:
        return Client(Sessions(), connections, owned=True)
    return Client(shared, connections, owned=False)


async def fetch(
    client: Client,
    method: str,
    url: str,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    content: bytes | None,
    redact: Callable[[str], str],
    error_code: str = "CONNECTION_ERROR",
) -> Answer:
    """Send one request and read at most the body cap of its answer. A transport failure raises a
    retryable ``TargetError`` with ``error_code`` and a redacted message. Redirects are not
    followed (one to another host could leak credentials)."""
    if client.closed:
        raise TargetError("http target used after aclose", code="TARGET_CLOSED")
    import aiohttp  # imported once; after that a lookup
    # An uncompressed answer keeps the body cap a memory bound (see Sessions.session).
    sent = {"Accept-Encoding": "identity", **headers}
    try:
        async with client.slots:
            session = client.sessions.session()  # first: it reads the proxy settings
            target = parse_url(url)
            proxy = client.sessions.proxy(target)
            async with session.request(
                method,
                target,
                params=query or None,
                headers=sent,
                data=content,
                allow_redirects=False,
                proxy=proxy.proxy if proxy else None,
                proxy_auth=proxy.proxy_auth if proxy else None,
            ) as response:
                body, truncated = await _read(response)
                # The headers as the client holds them: looked up without regard to case.
                return Answer(method, url, response.status, response.headers, body, truncated)
    # `from None`: a chained cause could carry the request, credentials included, into any
    # traceback the runtime logs. ValueError: a URL or header the library refuses.
    except (aiohttp.ClientError, ValueError) as e:
        raise TargetError(
            redact(f"{method} {url}: {type(e).__name__}: {e}"), code=error_code
        ) from None


@functools.lru_cache(maxsize=1024)
def parse_url(url: str) -> URL:
    """``url`` parsed, once for a target whose URL does not change with the event."""
    return URL(url)


async def _read(response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """The body, capped, and whether it was cut (then the connection is dropped rather than the
    rest drained). A body already received whole, or whose declared length is within the cap,
    is taken in one go (the client reads exactly the declared length)."""
    content, cap = response.content, RESPONSE_BODY_MAX_BYTES
    if content.is_eof():
        body = content.read_nowait()
        return (body, False) if len(body) <= cap else (body[:cap], True)
    length = response.content_length
    if length is not None and length <= cap:
        return await response.read(), False
    body, truncated = await read_capped(content.iter_any())
    if truncated:
        response.close()
    return body, truncated
