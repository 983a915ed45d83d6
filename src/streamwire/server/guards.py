"""Guards: checks that run before the first byte of a stream, as pure ASGI middleware.

A guard looks at the request (method, headers, cookies, client) and either lets it through or
rejects it with a JSON error that is safe to show::

    {"error": {"message": "Missing bearer token.", "code": "unauthorized",
               "field": "authorization"}}

Three guards are built in: :func:`bearer_token` (401 with ``WWW-Authenticate``), :func:`csrf`
(403, for cookie-authenticated requests that change state) and :func:`rate_limit` (a per-key token
bucket, 429 with ``Retry-After``). Any object with an ``async check(conn)`` method is a guard too.

Compose them in front of an app with :func:`guard` / :class:`GuardMiddleware`: they run in order
and the first rejection answers. Because the middleware is pure ASGI and only acts *before* the
app starts, it never wraps ``send`` and cannot buffer or delay a stream. The same guards work as
FastAPI dependencies through :meth:`Guards.dependency`.

Preflight requests (``OPTIONS``) are never guarded: browsers send them without credentials.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from streamwire.protocol.errors import InvalidArgumentError

__all__ = [
    "BearerToken",
    "CSRFProtection",
    "Guard",
    "GuardMiddleware",
    "Guards",
    "RateLimit",
    "Rejection",
    "bearer_token",
    "csrf",
    "guard",
    "rate_limit",
]

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """Why a guard refused a request: the HTTP answer, safe to show.

    Attributes:
        status: the HTTP status (401, 403, 429, ...).
        message: for the person at the other end; no secrets.
        code: machine-readable, e.g. ``"unauthorized"``.
        field: the request part at fault (``"authorization"``, ``"origin"``), if one is.
        headers: extra response headers (``WWW-Authenticate``, ``Retry-After``).
    """

    status: int
    message: str
    code: str
    field: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def body(self) -> bytes:
        """The JSON body: ``{"error": {"message", "code", "field"?}}``."""
        error: dict[str, str] = {"message": self.message, "code": self.code}
        if self.field is not None:
            error["field"] = self.field
        return msgspec.json.encode({"error": error})


@runtime_checkable
class Guard(Protocol):
    """A check run before a request reaches the app."""

    async def check(self, conn: HTTPConnection) -> Rejection | None:
        """``None`` to let the request through, or the :class:`Rejection` to answer with."""
        ...


# --------------------------------------------------------------------------------------------
# Bearer token


TokenVerifier = Callable[[str], bool | Awaitable[bool]]


class BearerToken:
    """Requires ``Authorization: Bearer <token>``; see :func:`bearer_token`."""

    def __init__(
        self,
        tokens: Iterable[str] | TokenVerifier,
        *,
        realm: str = "api",
        query_param: str | None = None,
    ) -> None:
        if callable(tokens):
            self._verify: TokenVerifier | None = tokens
            self._tokens: tuple[bytes, ...] = ()
        else:
            if isinstance(tokens, str):
                raise InvalidArgumentError("tokens", "must be a collection of tokens, not one str")
            listed = tuple(tokens)
            for index, token in enumerate(listed):
                if not isinstance(token, str) or not token:
                    raise InvalidArgumentError(f"tokens[{index}]", "must be a non-empty str")
            if not listed:
                raise InvalidArgumentError("tokens", "must not be empty")
            self._verify = None
            self._tokens = tuple(token.encode() for token in listed)
        if '"' in realm or "\\" in realm:
            raise InvalidArgumentError("realm", "must not contain a quote or a backslash")
        self.realm = realm
        self.query_param = query_param

    def _challenge(self, error: str | None) -> dict[str, str]:
        value = f'Bearer realm="{self.realm}"'
        if error is not None:
            value += f', error="{error}"'
        return {"www-authenticate": value}

    def token_of(self, conn: HTTPConnection) -> str | None:
        """The presented token: from ``Authorization``, else from ``query_param`` if set."""
        header = conn.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
        if self.query_param is not None:
            return conn.query_params.get(self.query_param) or None
        return None

    async def _valid(self, token: str) -> bool:
        if self._verify is not None:
            result = self._verify(token)
            if inspect.isawaitable(result):
                result = await result
            return bool(result)
        presented = token.encode()
        # Compare with every token, in constant time per comparison, without early exit.
        matches = [hmac.compare_digest(presented, known) for known in self._tokens]
        return any(matches)

    async def check(self, conn: HTTPConnection) -> Rejection | None:
        """Reject a missing, malformed or unknown token with 401."""
        header = conn.headers.get("authorization")
        token = self.token_of(conn)
        if token is None:
            malformed = header is not None
            return Rejection(
                status=401,
                message=(
                    "The Authorization header must be 'Bearer <token>'."
                    if malformed
                    else "Missing bearer token."
                ),
                code="unauthorized",
                field="authorization",
                headers=self._challenge("invalid_request" if malformed else None),
            )
        if not await self._valid(token):
            return Rejection(
                status=401,
                message="Invalid bearer token.",
                code="unauthorized",
                field="authorization",
                headers=self._challenge("invalid_token"),
            )
        return None


def bearer_token(
    tokens: Iterable[str] | TokenVerifier,
    *,
    realm: str = "api",
    query_param: str | None = None,
) -> BearerToken:
    """A guard requiring ``Authorization: Bearer <token>``.

    Args:
        tokens: the accepted tokens, or ``verify(token) -> bool`` (sync or async) for custom
            authentication (a database lookup, a JWT check).
        realm: the realm named in ``WWW-Authenticate``.
        query_param: also accept the token from this query parameter when there is no
            ``Authorization`` header (a browser ``EventSource`` cannot set headers). Query
            strings end up in logs: prefer short-lived tokens there.

    Returns:
        A guard answering 401 with ``WWW-Authenticate: Bearer realm=...`` when the token is
        missing, malformed or not accepted.

    Raises:
        InvalidArgumentError: ``tokens`` is empty or holds a non-str or empty token.
    """
    return BearerToken(tokens, realm=realm, query_param=query_param)


# --------------------------------------------------------------------------------------------
# CSRF


def _origin_of(conn: HTTPConnection) -> str:
    """The request's own origin, from its scheme and Host header."""
    scheme = conn.url.scheme
    host = conn.headers.get("host", "")
    return f"{scheme}://{host}".lower()


class CSRFProtection:
    """Rejects cross-site state-changing requests that carry cookies; see :func:`csrf`."""

    def __init__(
        self,
        *,
        allowed_origins: Iterable[str] = (),
        token_header: str | None = None,
        token_cookie: str | None = None,
        only_with_cookies: bool = True,
    ) -> None:
        if isinstance(allowed_origins, str):
            raise InvalidArgumentError("allowed_origins", "must be a collection, not one str")
        origins = []
        for index, origin in enumerate(allowed_origins):
            if not isinstance(origin, str) or "://" not in origin or origin.endswith("/"):
                raise InvalidArgumentError(
                    f"allowed_origins[{index}]",
                    f"must be an origin like 'https://app.example.com' (got {origin!r})",
                )
            origins.append(origin.lower())
        if (token_header is None) != (token_cookie is None):
            raise InvalidArgumentError(
                "token_header", "and token_cookie must be given together (double-submit token)"
            )
        self.allowed_origins = frozenset(origins)
        self.token_header = token_header.lower() if token_header else None
        self.token_cookie = token_cookie
        self.only_with_cookies = only_with_cookies

    def _forbid(self, message: str, field: str) -> Rejection:
        return Rejection(status=403, message=message, code="forbidden", field=field)

    def _token_ok(self, conn: HTTPConnection) -> bool | None:
        """True/False when a double-submit token is configured and present; None otherwise."""
        if self.token_header is None or self.token_cookie is None:
            return None
        sent = conn.headers.get(self.token_header)
        if sent is None:
            return None
        cookie = conn.cookies.get(self.token_cookie)
        if not cookie or not sent:
            return False
        return hmac.compare_digest(sent.encode(), cookie.encode())

    async def check(self, conn: HTTPConnection) -> Rejection | None:
        """Let safe methods and cookie-less requests through; check the rest."""
        if conn.scope.get("method", "GET").upper() not in _UNSAFE_METHODS:
            return None
        if self.only_with_cookies and "cookie" not in conn.headers:
            return None  # not cookie-authenticated: a forged request carries no credentials
        token = self._token_ok(conn)
        if token is True:
            return None
        if token is False:
            return self._forbid("The CSRF token does not match.", self.token_header or "")
        own = _origin_of(conn)
        origin = conn.headers.get("origin")
        if origin is not None and origin != "null":
            if origin.lower() == own or origin.lower() in self.allowed_origins:
                return None
            return self._forbid("Cross-site request refused.", "origin")
        site = conn.headers.get("sec-fetch-site")
        if site is not None:
            if site in ("same-origin", "none"):
                return None
            return self._forbid("Cross-site request refused.", "sec-fetch-site")
        field = self.token_header if self.token_header is not None else "origin"
        return self._forbid("The request's origin cannot be verified.", field)


def csrf(
    *,
    allowed_origins: Iterable[str] = (),
    token_header: str | None = None,
    token_cookie: str | None = None,
    only_with_cookies: bool = True,
) -> CSRFProtection:
    """A guard against cross-site request forgery on cookie-authenticated POST streams.

    For ``POST``/``PUT``/``PATCH``/``DELETE`` requests that carry cookies, in order:

    1. a double-submit token, if configured and sent: the ``token_header`` value must equal the
       ``token_cookie`` cookie;
    2. ``Origin``: must be the request's own origin or one of ``allowed_origins``;
    3. ``Sec-Fetch-Site``: ``same-origin`` or ``none`` (typed by the user) pass;
    4. none of these: refused (every current browser sends ``Origin`` on a POST).

    ``GET`` streams (``EventSource``) must not change state and are not checked.

    Args:
        allowed_origins: other origins allowed to post, e.g. ``["https://app.example.com"]``.
        token_header: the header carrying the double-submit token, e.g. ``"x-csrf-token"``.
        token_cookie: the cookie holding the same token.
        only_with_cookies: check only requests that carry cookies (requests authenticated by
            a bearer token cannot be forged by another site).

    Returns:
        A guard answering 403 ``forbidden`` naming the header at fault.

    Raises:
        InvalidArgumentError: an allowed origin is not ``scheme://host[:port]``, or only one
            of ``token_header`` and ``token_cookie`` is given.
    """
    return CSRFProtection(
        allowed_origins=allowed_origins,
        token_header=token_header,
        token_cookie=token_cookie,
        only_with_cookies=only_with_cookies,
    )


# --------------------------------------------------------------------------------------------
# Rate limit


def default_rate_key(conn: HTTPConnection) -> str | None:
    """The bearer token (hashed, so no secret is held) if any, else the client's IP address."""
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            digest = hashlib.sha256(token.strip().encode()).hexdigest()[:32]
            return f"token:{digest}"
    client = conn.client
    return f"ip:{client.host}" if client is not None else None


class RateLimit:
    """A per-key token bucket; see :func:`rate_limit`."""

    def __init__(
        self,
        *,
        requests: float,
        per_seconds: float,
        burst: int | None = None,
        key: Callable[[HTTPConnection], str | None] = default_rate_key,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        for name, value in (("requests", requests), ("per_seconds", per_seconds)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidArgumentError(name, f"must be a positive number (got {value!r})")
        capacity = burst if burst is not None else math.ceil(requests)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidArgumentError("burst", f"must be an int >= 1 (got {burst!r})")
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise InvalidArgumentError("max_keys", f"must be an int >= 1 (got {max_keys!r})")
        self.rate = requests / per_seconds  # tokens per second
        self.capacity = capacity
        self.key = key
        self.clock = clock
        self.max_keys = max_keys
        # key -> (tokens, last refill time); least recently used first, for eviction.
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if granted, else the seconds until one is available."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    async def check(self, conn: HTTPConnection) -> Rejection | None:
        """Reject with 429 and ``Retry-After`` (whole seconds, rounded up) when over the rate."""
        key = self.key(conn)
        if key is None:
            return None
        wait = self.take(key)
        if wait <= 0.0:
            return None
        return Rejection(
            status=429,
            message="Too many requests; retry later.",
            code="rate_limited",
            headers={"retry-after": str(max(1, math.ceil(wait)))},
        )


def rate_limit(
    *,
    requests: float,
    per_seconds: float,
    burst: int | None = None,
    key: Callable[[HTTPConnection], str | None] = default_rate_key,
    clock: Callable[[], float] = time.monotonic,
    max_keys: int = 100_000,
) -> RateLimit:
    """A per-key token-bucket rate limit: ``requests`` per ``per_seconds``, bursts of ``burst``.

    Args:
        requests: how many requests the bucket refills over ``per_seconds``.
        per_seconds: the refill period.
        burst: the bucket's size (the most requests at once); ``requests`` rounded up if None.
        key: ``key(conn) -> str | None``: whose bucket; ``None`` skips the limit. By default
            the bearer token (hashed) or else the client IP (behind a proxy, pass a key that
            reads your trusted forwarding header).
        clock: seconds, monotonic; injectable for tests.
        max_keys: the most buckets kept; the least recently used are dropped beyond it.

    Returns:
        A guard answering 429 ``rate_limited`` with ``Retry-After``.

    Raises:
        InvalidArgumentError: a non-positive rate or period, or ``burst``/``max_keys`` < 1.
    """
    return RateLimit(
        requests=requests,
        per_seconds=per_seconds,
        burst=burst,
        key=key,
        clock=clock,
        max_keys=max_keys,
    )


# --------------------------------------------------------------------------------------------
# Composition


class Guards:
    """An ordered chain of guards; the first rejection wins.

    Args:
        guards: objects with ``async check(conn) -> Rejection | None``.

    Raises:
        TypeError: an item has no ``check`` method.
    """

    def __init__(self, guards: Sequence[Guard]) -> None:
        for index, item in enumerate(guards):
            if not isinstance(item, Guard):
                raise TypeError(
                    f"guards[{index}] must have an async check(conn) method, "
                    f"not {type(item).__name__}"
                )
        self.guards: tuple[Guard, ...] = tuple(guards)

    async def check(self, conn: HTTPConnection) -> Rejection | None:
        """Run the guards in order; the first rejection, or ``None`` if all pass."""
        if conn.scope["type"] == "http" and conn.scope.get("method", "") == "OPTIONS":
            return None
        for item in self.guards:
            rejection = await item.check(conn)
            if rejection is not None:
                return rejection
        return None

    def dependency(self) -> Callable[[Request], Awaitable[None]]:
        """The chain as a FastAPI dependency: ``Depends(guards.dependency())``.

        The dependency raises ``fastapi.HTTPException`` with the rejection's status, headers
        and ``detail={"message", "code", "field"?}`` (FastAPI wraps it as ``{"detail": ...}``).
        """
        chain = self

        async def guard_dependency(request: Request) -> None:
            rejection = await chain.check(request)
            if rejection is None:
                return
            from fastapi import HTTPException

            detail: dict[str, str] = {"message": rejection.message, "code": rejection.code}
            if rejection.field is not None:
                detail["field"] = rejection.field
            raise HTTPException(
                status_code=rejection.status, detail=detail, headers=dict(rejection.headers)
            )

        return guard_dependency


class GuardMiddleware:
    """Pure ASGI middleware running guards before the app; a rejection answers in JSON.

    Only HTTP requests are checked; the app's ``send`` is never wrapped, so a stream passes
    through untouched.

    Args:
        app: the ASGI app to protect.
        guards: the guards, in order.

    Example:
        ``Starlette(routes=..., middleware=[Middleware(GuardMiddleware, guards=[...])])``
    """

    def __init__(self, app: ASGIApp, *, guards: Sequence[Guard]) -> None:
        self.app = app
        self.chain = Guards(guards)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rejection = await self.chain.check(HTTPConnection(scope))
        if rejection is None:
            await self.app(scope, receive, send)
            return
        body = rejection.body()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        headers.extend(
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in rejection.headers.items()
        )
        await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def guard(app: ASGIApp, *guards: Guard) -> GuardMiddleware:
    """Protect ``app`` with ``guards``: ``guard(app, bearer_token([...]), rate_limit(...))``.

    Returns:
        A :class:`GuardMiddleware` (an ASGI app).

    Raises:
        TypeError: a guard has no ``check`` method.
    """
    return GuardMiddleware(app, guards=guards)
