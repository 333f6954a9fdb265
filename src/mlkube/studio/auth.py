"""Who may use the studio: the holder of the token ``mlkube studio`` printed, and only
from the studio's own pages.

As Jupyter does, the token (random per start) is in the URL printed once on stdout;
the first request that carries it (``?token=``) gets an HttpOnly, SameSite=Strict
session cookie and is redirected to the same URL without the token, so the token leaves
the address bar and every later link. Every request without a valid session answers 401,
pages and JSON alike (static files included: nothing is served to a stranger).

A state-changing request (anything but GET and HEAD) also needs proof it comes from a
studio page, not from another site the browser has open: its ``Origin`` (or, without
one, ``Sec-Fetch-Site: same-origin``) must be the studio's own, and it must carry the
session's CSRF token in the ``X-CSRF-Token`` header, which the pages read from their
``<meta name="csrf-token">``. Anything else is 403.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlencode

import orjson
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE = "mlkube_studio_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Session:
    id: str
    csrf_token: str


class Sessions:
    """The start's token and the sessions it opened (in memory: a restart logs out)."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def open(self) -> Session:
        session = Session(id=secrets.token_urlsafe(32), csrf_token=secrets.token_urlsafe(32))
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or not hmac.compare_digest(session.id, session_id):
            return None
        return session


class StudioAuthMiddleware:
    """Token exchange, session check and cross-site refusal in front of every route."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.query_params.get("token")
        if token is not None:
            if request.method not in SAFE_METHODS or not self.sessions.token_matches(token):
                await _refused(request, 401)(scope, receive, send)
                return
            await _exchanged(request, self.sessions.open())(scope, receive, send)
            return
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            await _refused(request, 401)(scope, receive, send)
            return
        if request.method not in SAFE_METHODS and not _same_site(request, session):
            await _refused(request, 403)(scope, receive, send)
            return
        scope.setdefault("state", {})["csrf_token"] = session.csrf_token
        await self.app(scope, receive, send)


def _exchanged(request: Request, session: Session) -> Response:
    """303 to the same URL without ``token``, setting the session cookie."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    url = URL(path=request.url.path, query=urlencode(kept))
    response = RedirectResponse(str(url), status_code=303)
    response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="strict",
                        path="/")
    return response


def _same_site(request: Request, session: Session) -> bool:
    own_origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
    origin = request.headers.get("origin")
    if origin is not None:
        if origin != own_origin:
            return False
    elif request.headers.get("sec-fetch-site") != "same-origin":
        return False
    sent = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(sent.encode(), session.csrf_token.encode())


_MESSAGES = {
    401: ("Not signed in to mlkube studio.",
          "Open the URL that `mlkube studio` printed (it carries the token)."),
    403: ("Refused: a change must come from a studio page.",
          "Use the studio's own pages; requests from other sites are refused."),
}

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>mlkube studio</title><style>body{{font:15px system-ui,sans-serif;margin:4em auto;
max-width:36em;color:#222}}code{{background:#eee;padding:.1em .3em}}</style></head>
<body><h1>mlkube studio</h1><p>{message}</p><p>{hint}</p></body></html>"""


def _refused(request: Request, status: int) -> Response:
    message, hint = _MESSAGES[status]
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
            "accept", ""):
        body = {"error": message, "error_code": "UNAUTHORIZED" if status == 401
                else "FORBIDDEN", "message": message, "hint": hint}
        return Response(orjson.dumps(body), status_code=status,
                        media_type="application/json")
    return HTMLResponse(_PAGE.format(message=message,
                                     hint=hint.replace("`mlkube studio`",
                                                       "<code>mlkube studio</code>")),
                        status_code=status)
