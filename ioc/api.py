"""The IOC's HTTP API (FastAPI; OpenAPI at /openapi.json, docs at /docs) and the operator page.

Every route but login and the page needs a token (session cookie or `Authorization:
Bearer`); write routes need the operator role or above, and each write is audited with
who made it. Every refusal is a 4xx with a `detail` saying why.
"""

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from ioc import lifecycle, publishing
from ioc.accounts import (
    AccountError,
    Caller,
    Role,
    add_user,
    caller_of_token,
    check_password,
    close_session,
    open_session,
)
from ioc.desk import Desk, WarningFilters
from ioc.lifecycle import LifecycleError, audit
from ioc.readings import ReadingsUnavailable
from ioc.schema import AuditEntry, Transition, WarningRecord
from ioc.sender import AlertSender
from ioc.views import (
    AcknowledgeRequest,
    AuditView,
    Board,
    DeliveryView,
    GatewayView,
    LoginRequest,
    Me,
    PublicAlertView,
    Refusal,
    ResolveRequest,
    RuleFileText,
    RulesView,
    SeriesView,
    SilenceRequest,
    UserRequest,
    WarningDetail,
    WarningList,
    WarningMark,
    WarningView,
)
from public_alerts import PublicAlert
from public_alerts.feed import alerts_router
from public_alerts.webhooks import WebhookSender, webhook_secrets

STATIC_DIR = FilePath(__file__).resolve().parent / "static"
SESSION_COOKIE = "floodwatch_session"
DEFAULT_SPAN_MS = 3 * 86400_000
MAX_SPAN_MS = 20 * 365 * 86400_000
SSE_KEEPALIVE_S = 15.0
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Refusal, "description": "not logged in, or the token expired"},
    403: {"model": Refusal, "description": "the role does not allow this"},
}
log = logging.getLogger(__name__)
StationId = Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9_.-]{0,95}$")]
# the warnings' key is a 32-bit integer in PostgreSQL (SERIAL)
WarningId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def create_app(desk: Desk, *, start_desk: bool = True) -> FastAPI:
    # What operators approved goes out from here (feed, sirens for the dispatcher, then webhooks).
    sender = AlertSender(
        desk.sessions,
        desk.public_alerts,
        desk.siren_commands,
        _no_webhooks,
        desk.changed,
        poll_s=desk.config.sender.poll_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_desk:
            await asyncio.to_thread(desk.start)
        # What start-up built lives as long as the app: out of the collector's sight, full collections
        # do not walk it (they had stalled requests by hundreds of ms under load).
        gc.freeze()
        hub = asyncio.create_task(desk.hub.run(), name="ioc-change-hub")
        webhooks = WebhookSender(
            desk.policy,
            desk.deliveries,
            webhook_secrets(desk.policy, os.environ),
            owner=desk.config.broker.client_id,  # a restarted instance takes back its own pending deliveries
            lease_margin_s=desk.config.sender.delivery_lease_margin_s,
        )
        for name in webhooks.unkeyed:
            log.error("webhook_unkeyed", extra={"event": "webhook_unkeyed", "channel": name})
        await webhooks.__aenter__()
        sender.deliver = webhooks.deliver_many
        sender.resume_deliveries = webhooks.resume
        sender.claim_webhooks, sender.start_webhooks = webhooks.claim, webhooks.start
        sender.attach(asyncio.get_running_loop())
        desk.queue_webhooks = sender.queue_many  # a public chain's Updates and Cancels, from the feed's thread
        task = asyncio.create_task(sender.run(), name="ioc-alert-sender") if desk.config.sender.run else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await webhooks.__aexit__(None, None, None)
            hub.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hub
            if start_desk:
                await asyncio.to_thread(desk.stop)

    app = FastAPI(
        title="Floodwatch IOC warning desk",
        version="1",
        description="Flood warnings with a lifecycle: stations, readings, gateways, warnings, rules; live push.",
        lifespan=lifespan,
    )
    config = desk.config
    max_silence_min = int(config.lifecycle.max_silence_h * 60)

    class Silence(SilenceRequest):
        """A silence's reason and length, at most the configured `lifecycle.max_silence_h`."""

        duration_min: Annotated[int, Field(ge=1, le=max_silence_min)]

    def db() -> Iterator[DbSession]:
        with desk.sessions() as session:
            yield session

    Db = Annotated[DbSession, Depends(db)]

    def token_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return request.cookies.get(SESSION_COOKIE)

    def lookup(token: str) -> Caller | None:
        with desk.sessions() as session:
            return caller_of_token(session, token)

    async def current_user(request: Request) -> Caller:
        token = token_of(request)
        caller = desk.callers.get(token) if token else None
        if caller is None and token:
            caller = await asyncio.to_thread(lookup, token)
            if caller is not None:
                desk.callers.put(token, caller)
        if caller is None:
            raise HTTPException(401, "not logged in, or the session expired: log in again")
        return caller

    def needs(role: Role) -> Callable[[Caller], Awaitable[Caller]]:
        async def check(user: Annotated[Caller, Depends(current_user)]) -> Caller:
            if not user.role.allows(role):
                raise HTTPException(403, f"{user.username} is {user.role.value}; this needs {role.value} or above")
            return user

        return check

    Viewer = Annotated[Caller, Depends(needs(Role.viewer))]
    Operator = Annotated[Caller, Depends(needs(Role.operator))]
    RuleAuthor = Annotated[Caller, Depends(needs(Role.rule_author))]
    Admin = Annotated[Caller, Depends(needs(Role.admin))]

    # -- accounts

    @app.post("/api/login", tags=["accounts"], responses={401: REFUSALS[401], 429: {"model": Refusal}})
    def login(body: LoginRequest, request: Request, response: Response, session: Db) -> Me:
        """Log in; sets the session cookie and returns who you are. Failed logins are rate-limited."""
        client = request.client.host if request.client else "unknown"
        keys = (f"user:{body.username}", f"addr:{client}")
        wait_s = desk.limiter.retry_after_s(*keys)
        if wait_s > 0:
            raise HTTPException(
                429, f"too many failed logins; try again in {wait_s:.0f} s", {"Retry-After": str(int(wait_s) + 1)}
            )
        user = check_password(session, body.username, body.password)
        if user is None:
            desk.limiter.failed(*keys)
            audit(session, body.username, "login_failed", None, address=client)
            session.commit()
            raise HTTPException(401, "wrong user name or password")
        token, expires = open_session(session, user, config.auth.session_ttl_h * 3600)
        audit(session, user.username, "login", None, address=client)
        session.commit()
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(config.auth.session_ttl_h * 3600),
            httponly=True,
            samesite="strict",
            secure=config.auth.secure_cookie,
        )
        response.headers["X-Session-Token"] = token
        return Me(username=user.username, role=Role(user.role), expires_ms=expires)

    @app.post("/api/logout", tags=["accounts"], status_code=204, responses=REFUSALS)
    def logout(request: Request, user: Viewer, session: Db) -> Response:
        token = token_of(request)
        if token:
            desk.callers.forget(token)
            close_session(session, token)
            audit(session, user.username, "logout", None)
            session.commit()
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/api/me", tags=["accounts"], responses=REFUSALS)
    def me(user: Viewer) -> Me:
        return Me(username=user.username, role=user.role)

    @app.post("/api/users", tags=["accounts"], status_code=201, responses=REFUSALS | {409: {"model": Refusal}})
    def create_user(body: UserRequest, admin: Admin, session: Db) -> Me:
        """Add an account (admin only)."""
        try:
            user = add_user(session, body.username, body.password, body.role, admin.username)
            session.commit()
        except AccountError as error:
            raise HTTPException(409, str(error)) from None
        return Me(username=user.username, role=Role(user.role))

    # -- stations, readings, gateways, rules

    @app.get("/api/stations", tags=["stations"], response_model=Board, responses=REFUSALS)
    async def stations(_user: Viewer) -> Response:
        """Every station: its alarm levels in effect, each sensor's latest reading (quality, age), its alarm level."""
        body = desk.responses.get(desk.board_key()) or await asyncio.to_thread(desk.board_json)
        return Response(body, media_type="application/json")

    @app.get(
        "/api/stations/{station}/readings",
        tags=["stations"],
        responses=REFUSALS | {404: {"model": Refusal}, 503: {"model": Refusal}},
    )
    def readings(
        station: Annotated[str, Depends(_known_station(desk))],
        _user: Viewer,
        session: Db,
        quantity: StationId = "water_level",
        from_ms: Annotated[int | None, Query(ge=0, le=4_102_444_800_000)] = None,
        to_ms: Annotated[int | None, Query(ge=0, le=4_102_444_800_000)] = None,
    ) -> SeriesView:
        """A station's series from InfluxDB: raw, hourly or daily rollup as the span calls for (default: 3 days)."""
        end = to_ms if to_ms is not None else int(time.time() * 1000)
        start = from_ms if from_ms is not None else end - DEFAULT_SPAN_MS
        if start >= end or end - start > MAX_SPAN_MS:
            raise HTTPException(422, "from_ms must be before to_ms, at most 20 years apart")
        try:
            resolution, series = desk.readings.series(station, quantity, start, end)
        except ReadingsUnavailable as error:
            raise HTTPException(503, f"InfluxDB does not answer: {error}") from None
        current = desk.in_effect(station, end)
        marks = session.scalars(
            select(WarningRecord).where(
                WarningRecord.station == station, WarningRecord.raised_ms >= start, WarningRecord.raised_ms <= end
            )
        )
        return SeriesView(
            station=station,
            quantity=quantity,
            resolution=resolution,
            from_ms=start,
            to_ms=end,
            sensors={sensor: [(p.ts_ms, p.value, p.low, p.high) for p in points] for sensor, points in series.items()},
            thresholds_m=list(current.thresholds_m) if current is not None else None,
            marks=[WarningMark(ts_ms=w.raised_ms, level=w.peak_level, rule=w.rule, warning_id=w.id) for w in marks],
        )

    @app.get("/api/gateways", tags=["gateways"], responses=REFUSALS)
    def gateways(_user: Viewer, trouble: bool = False) -> list[GatewayView]:
        """Each gateway's newest status from the retained status topic; `trouble=true`: only those in trouble."""
        return [g for g in desk.gateway_views() if g.in_trouble or not trouble]

    @app.get("/api/rules", tags=["rules"], responses=REFUSALS)
    def rules(_user: Viewer) -> RulesView:
        """Which rule files and alarm-level versions are live."""
        return desk.rules_view()

    @app.get("/api/rules/files/{index}", tags=["rules"], responses=REFUSALS | {404: {"model": Refusal}})
    def rule_file(index: Annotated[int, Path(ge=0, le=1000)], _user: RuleAuthor) -> RuleFileText:
        """The text of a live rule file (its position in /api/rules); for rule authors and admins."""
        if index >= len(config.rule_files):
            raise HTTPException(404, f"there are {len(config.rule_files)} rule files; no file {index}")
        path = config.rule_files[index]
        return RuleFileText(path=str(path), text=FilePath(path).read_text(encoding="utf-8"))

    # -- warnings

    @app.get("/api/warnings", tags=["warnings"], response_model=WarningList, responses=REFUSALS)
    async def warnings(
        _user: Viewer,
        active: bool | None = None,
        station: StationId | None = None,
        min_level: Annotated[int, Query(ge=0, le=3)] = 0,
        data_warning: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        """Active and past warnings, newest first (active ones first), with filters."""
        filters = WarningFilters(active, station, min_level, data_warning, limit, offset)
        body = desk.responses.get(desk.warnings_key(filters)) or await asyncio.to_thread(desk.warnings_json, filters)
        return Response(body, media_type="application/json")

    @app.get("/api/warnings/{warning_id}", tags=["warnings"], responses=REFUSALS | {404: {"model": Refusal}})
    def warning(warning_id: WarningId, _user: Viewer, session: Db) -> WarningDetail:
        """One warning and its audit trail, oldest entry first."""
        row = session.get(WarningRecord, warning_id)
        if row is None:
            raise HTTPException(404, f"no warning {warning_id}")
        trail = session.scalars(select(AuditEntry).where(AuditEntry.warning_id == warning_id).order_by(AuditEntry.id))
        return WarningDetail(warning=WarningView.of(row), audit=[AuditView.of(entry) for entry in trail])

    operator_refusals = REFUSALS | {404: {"model": Refusal}, 409: {"model": Refusal}}

    def operate(action: Callable[[], WarningRecord], session: DbSession) -> WarningView:
        try:
            row = action()
            session.commit()
        except LifecycleError as error:
            session.rollback()
            raise HTTPException(404 if error.missing else 409, str(error)) from None
        desk.changed()
        return WarningView.of(row)

    @app.post("/api/warnings/{warning_id}/acknowledge", tags=["warnings"], responses=operator_refusals)
    def acknowledge(warning_id: WarningId, body: AcknowledgeRequest, user: Operator, session: Db) -> WarningView:
        """Acknowledge an active warning (once per level reached: an escalation asks again)."""
        return operate(lambda: lifecycle.acknowledge(session, warning_id, user.username, body.note), session)

    @app.post("/api/warnings/{warning_id}/approve", tags=["public alerts"], responses=operator_refusals)
    def approve(warning_id: WarningId, user: Operator, session: Db) -> PublicAlertView:
        """Approve an active warning's current transition for the public: it rests `approved` until the
        sending service sends it (feed, webhooks, sirens) and marks it `sent`. Approving again changes nothing."""
        try:
            record = publishing.approve(session, desk.public_alerts, warning_id, user.username)
            session.commit()
        except LifecycleError as error:
            session.rollback()
            raise HTTPException(404 if error.missing else 409, str(error)) from None
        desk.changed()
        sender.poke()
        return PublicAlertView.of(record, desk.policy, warning_id)

    @app.get("/api/public/alerts", tags=["public alerts"], responses=REFUSALS)
    def public_alerts(
        _user: Viewer,
        session: Db,
        state: Literal["draft", "approved", "sent", "withdrawn"] | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[PublicAlertView]:
        """Public alerts newest first: `draft` ones await an operator's approval, `approved` ones the
        sending service, `sent` ones are out (those with a `msg_type` are CAP alerts at their `url`)."""
        records = desk.public_alerts.records(state, limit)
        ids = [record.transition_id for record in records]
        query = select(Transition.transition_id, Transition.warning_id).where(Transition.transition_id.in_(ids))
        warning_of: dict[str, int | None] = {row.transition_id: row.warning_id for row in session.execute(query)}
        return [PublicAlertView.of(r, desk.policy, warning_of.get(r.transition_id)) for r in records]

    @app.get("/api/public/deliveries", tags=["public alerts"], responses=REFUSALS)
    def deliveries(_user: Viewer, state: Literal["pending", "delivered", "dead"] | None = None) -> list[DeliveryView]:
        """Webhook deliveries; `state=dead` is the dead-letter list (after `max_attempts`, or refused)."""
        return [DeliveryView.of(record) for record in desk.deliveries.records(state)]

    @app.post("/api/warnings/{warning_id}/silence", tags=["warnings"], responses=operator_refusals)
    def silence(warning_id: WarningId, body: Silence, user: Operator, session: Db) -> WarningView:
        """Silence an active warning for a while, with a reason."""
        return operate(
            lambda: lifecycle.silence(session, warning_id, user.username, body.reason, body.duration_min * 60), session
        )

    @app.post("/api/warnings/{warning_id}/resolve", tags=["warnings"], responses=operator_refusals)
    def resolve(warning_id: WarningId, body: ResolveRequest, user: Operator, session: Db) -> WarningView:
        """Resolve an active warning by hand (the rules resolve it themselves at all clear)."""
        return operate(lambda: lifecycle.resolve(session, warning_id, user.username, body.note), session)

    @app.get(
        "/api/events",
        tags=["warnings"],
        responses=REFUSALS | {200: {"content": {"text/event-stream": {}}, "description": "warning changes"}},
    )
    async def events(_user: Viewer, last_event_id: Annotated[int | None, Header(ge=0)] = None) -> StreamingResponse:
        """Server-Sent Events: each change of a warning (its audit entry and the warning as it now is)."""
        queue = desk.hub.subscribe()
        start = desk.hub.last_id

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 1000\n\n"
                if last_event_id is not None:  # what the page missed while it reconnected
                    for missed in await asyncio.to_thread(desk.hub.changes_since, last_event_id, start):
                        yield f"id: {missed.audit_id}\nevent: warning\ndata: {missed.data}\n\n"
                while True:
                    try:
                        change = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    if change is None:
                        return
                    yield f"id: {change.audit_id}\nevent: warning\ndata: {change.data}\n\n"
            finally:
                desk.hub.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    # -- the page

    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(index.replace("{{default_language}}", config.default_language))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # The public's side, no login: the Atom feed of active alerts and each alert's CAP XML.
    app.include_router(alerts_router(desk.public_alerts, desk.policy, lifecycle.now_ms))
    return app


async def _no_webhooks(items: Sequence[tuple[PublicAlert, Iterable[str] | None]]) -> None:
    """Before the app's WebhookSender is up (the sender does not run before it)."""


def _known_station(desk: Desk) -> Callable[[str], str]:
    def check(station: str) -> str:
        if station not in desk.station_ids():
            raise HTTPException(404, f"no station {station!r} in the alarm levels")
        return station

    return check
