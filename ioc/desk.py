"""The warning desk: the database, the feeds, the readings and the push hub of one IOC instance.

Constructing a Desk does no I/O; `start()` migrates the database, connects the feeds and
starts the background threads (latest readings, expiry sweep); `stop()` ends them.
"""

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from ioc.accounts import CallerCache, LoginLimiter
from ioc.config import IocConfig
from ioc.database import migrate, open_engine, session_factory
from ioc.feed import GatewayBoard, WarningFeed
from ioc.lifecycle import sweep
from ioc.publishing import Outgoing, on_transition
from ioc.push import ChangeHub
from ioc.readings import Readings, ReadingsUnavailable
from ioc.responses import ResponseCache
from ioc.schema import WarningRecord
from ioc.views import (
    Board,
    GatewayView,
    LevelsView,
    LevelVersionView,
    ReadingView,
    RuleFileView,
    RulesView,
    StationView,
    WarningList,
    WarningView,
)
from public_alerts import AlertBook, load_policy
from public_alerts.delivery_log import DeliveryLog
from public_alerts.sirens import CommandLog
from public_alerts.stations import station_names
from rules.levels import StationLevels, load_alarm_levels
from rules.rulebook import load_rulebook
from wire_contract import GatewayStatus, WarningMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarningFilters:
    active: bool | None = None
    station: str | None = None
    min_level: int = 0
    data_warning: bool | None = None
    limit: int = 100
    offset: int = 0


def warning_list(db: DbSession, filters: WarningFilters) -> WarningList:
    """Warnings newest first (active ones before past ones), filtered."""
    conditions = [WarningRecord.peak_level >= filters.min_level]
    if filters.active is not None:
        conditions.append(WarningRecord.active.is_(filters.active))
    if filters.station is not None:
        conditions.append(WarningRecord.station == filters.station)
    if filters.data_warning is not None:
        conditions.append(WarningRecord.data_warning.is_(filters.data_warning))
    total = db.scalar(select(func.count()).select_from(WarningRecord).where(*conditions)) or 0
    rows = db.scalars(
        select(WarningRecord)
        .where(*conditions)
        .order_by(WarningRecord.active.desc(), WarningRecord.updated_ms.desc(), WarningRecord.id.desc())
        .limit(filters.limit)
        .offset(filters.offset)
    )
    return WarningList(total=total, warnings=[WarningView.of(row) for row in rows])


class Desk:
    def __init__(self, config: IocConfig) -> None:
        self.config = config
        self.levels = load_alarm_levels(config.alarm_levels)
        # Public alerts: what operators approve and the sending service sends (ioc/publishing.py, ioc/sender.py).
        self.policy = load_policy(config.public_policy)
        self._versions: dict[str, list[StationLevels]] = {}
        for entry in sorted(self.levels.stations, key=lambda e: e.effective_from):
            self._versions.setdefault(entry.station, []).append(entry)
        self.engine = open_engine(config.database.url)
        self.sessions = session_factory(self.engine)
        # Public alerts, stored in this database: drafts, approvals, the sent CAP alerts (ioc/publishing.py).
        self.public_alerts = AlertBook(self.policy, station_names(self.levels), engine=self.engine)
        self.deliveries = DeliveryLog(self.engine)  # webhook deliveries and their dead letters
        self.siren_commands = CommandLog(self.engine)  # claimed by the sender, sent by `floodwatch-ioc sirens`
        # A public chain's Update or Cancel, committed: its webhooks (the app sets its sender's queue).
        self.queue_webhooks: Callable[[Sequence[Outgoing]], None] = _webhooks_unqueued
        self.readings = Readings(config.influx)
        self.hub = ChangeHub(self.sessions)
        # A public warning's later changes follow it into the feed (Update, Cancel);
        # a transition with a route that needs an operator is a draft.
        self.feed = WarningFeed(
            config.broker, self.sessions, self.changed, self._public_transition, lambda outs: self.queue_webhooks(outs)
        )
        self.gateways = GatewayBoard(config.broker)
        self.limiter = LoginLimiter(config.auth.login_max_failures, config.auth.login_window_s)
        self._stopping = threading.Event()
        self._feeds = False
        self._threads = [
            threading.Thread(target=self._refresh_loop, name="ioc-latest-readings", daemon=True),
            threading.Thread(target=self._sweep_loop, name="ioc-sweep", daemon=True),
        ]
        self.responses = ResponseCache()
        self.callers = CallerCache()
        self.changes = 0  # changes this instance committed (feed, operators, sweep)
        self._changes_lock = threading.Lock()

    def start(self, *, feeds: bool = True) -> "Desk":
        migrate(self.engine)
        self._feeds = feeds
        if feeds:
            self.feed.consumer.start()
            self.gateways.consumer.start()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=10)
        if self._feeds:
            self.feed.consumer.stop()
            self.gateways.consumer.stop()
        self.readings.close()
        self.engine.dispose()

    def _public_transition(self, db: DbSession, warning: WarningMessage) -> Outgoing | None:
        """In the feed's transaction: draft or follow; a follower's webhooks are queued once it committed."""
        return on_transition(db, self.public_alerts, warning)

    def _refresh_loop(self) -> None:
        while True:
            try:
                self.readings.refresh_latest()
            except ReadingsUnavailable as error:
                log.warning("latest_readings_failed", extra={"event": "latest_readings_failed", "error": str(error)})
            if self._stopping.wait(self.config.influx.latest_refresh_s):
                return

    def _sweep_loop(self) -> None:
        expire_ms = int(self.config.lifecycle.expire_after_h * 3600_000)
        while not self._stopping.wait(self.config.lifecycle.sweep_s):
            with self.sessions.begin() as db:
                changed = sweep(db, int(time.time() * 1000), expire_ms)
            if changed:
                self.changed()

    # -- the board: every station, built once per change of warnings or readings

    def station_ids(self) -> list[str]:
        return sorted(self._versions)

    def in_effect(self, station_id: str, at_ms: int) -> StationLevels | None:
        """The version of a station's levels in effect at `at_ms`; None before its first (or if unknown)."""
        current = None
        for version in self._versions.get(station_id, []):
            if version.effective_ms <= at_ms:
                current = version
        return current

    def changed(self) -> None:
        """A change of warnings committed here: answers built before it are out of date; push it now."""
        with self._changes_lock:
            self.changes += 1
        self.hub.poke()

    def version(self) -> tuple[int, int]:
        """What the warnings are at: this instance's changes, and the newest audit entry the hub has seen."""
        return (self.changes, self.hub.last_id)

    def board_key(self) -> tuple[object, ...]:
        # the minute keeps the readings' ages and the levels in effect fresh
        return ("board", self.version(), self.readings.generation, int(time.time() // 60))

    def board_json(self) -> bytes:
        key = self.board_key()
        body = self.responses.get(key)
        if body is None:
            with self.sessions() as db:
                body = self.board(db).model_dump_json().encode()
            self.responses.put(key, body)
        return body

    def warnings_key(self, filters: WarningFilters) -> tuple[object, ...]:
        return ("warnings", self.version(), filters)

    def warnings_json(self, filters: WarningFilters) -> bytes:
        key = self.warnings_key(filters)
        body = self.responses.get(key)
        if body is None:
            with self.sessions() as db:
                body = warning_list(db, filters).model_dump_json().encode()
            self.responses.put(key, body)
        return body

    def board(self, db: DbSession) -> Board:
        now = int(time.time() * 1000)
        active = db.execute(
            select(WarningRecord.station, WarningRecord.level, WarningRecord.data_warning).where(
                WarningRecord.active.is_(True)
            )
        )
        level: dict[str, int] = {}
        count: Counter[str] = Counter()
        for station, warning_level, data_warning in active:
            count[station] += 1
            if not data_warning:
                level[station] = max(level.get(station, 0), warning_level)
        stations = []
        for station_id in sorted(self._versions):
            first = self._versions[station_id][0]
            current = self.in_effect(station_id, now)
            if current is None:
                levels = None
            else:
                levels = LevelsView(
                    bd1_m=current.bd1_m,
                    bd2_m=current.bd2_m,
                    bd3_m=current.bd3_m,
                    source=current.source,
                    effective_from=current.effective_from.isoformat(),
                )
            readings = [
                ReadingView(
                    sensor=r.sensor,
                    quantity=r.quantity,
                    value=r.value,
                    quality=r.quality,
                    ts_ms=r.ts_ms,
                    age_s=round((now - r.ts_ms) / 1000, 1),
                )
                for r in self.readings.latest(station_id)
            ]
            stations.append(
                StationView(
                    station=station_id,
                    river=first.river,
                    display_name=first.display_name,
                    levels=levels,
                    readings=readings,
                    alarm_level=level.get(station_id, 0),
                    active_warnings=count[station_id],
                )
            )
        return Board(generated_ms=now, readings_refreshed_ms=self.readings.latest_refreshed_ms, stations=stations)

    def gateway_views(self) -> list[GatewayView]:
        limits = self.config.lifecycle
        views = []
        for status, received in self.gateways.snapshot():
            troubles = _troubles(status, limits.trouble_buffer_depth, limits.trouble_unsent_age_s)
            views.append(
                GatewayView(
                    gateway=status.gateway,
                    state=status.state,
                    in_trouble=bool(troubles),
                    troubles=troubles,
                    last_heartbeat_ms=status.ts_ms,
                    received_ms=received,
                    buffer_depth=status.buffer_depth,
                    oldest_unsent_age_s=status.oldest_unsent_age_s,
                    device_errors=dict(status.device_errors),
                    clock_synced=status.clock_synced,
                    clock_problem=status.clock_problem,
                )
            )
        return views

    def rules_view(self) -> RulesView:
        files = []
        for path in self.config.rule_files:
            book = load_rulebook(path, self.levels)
            files.append(
                RuleFileView(
                    path=str(path),
                    sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                    rules=len(book.rules),
                    kinds=dict(Counter(rule.kind for rule in book.rules)),
                )
            )
        now = int(time.time() * 1000)
        versions = []
        for station_id in sorted(self._versions):
            current = self.in_effect(station_id, now)
            versions += [
                LevelVersionView(
                    station=v.station,
                    display_name=v.display_name,
                    effective_from=v.effective_from.isoformat(),
                    bd1_m=v.bd1_m,
                    bd2_m=v.bd2_m,
                    bd3_m=v.bd3_m,
                    source=v.source,
                    in_effect=v is current,
                )
                for v in self._versions[station_id]
            ]
        return RulesView(
            rule_files=files, alarm_levels_path=str(self.config.alarm_levels), alarm_level_versions=versions
        )


def _webhooks_unqueued(outs: Sequence[Outgoing]) -> None:
    for out in outs:
        log.error("webhooks_not_queued", extra={"event": "webhooks_not_queued", "identifier": out.alert.identifier})


def _troubles(status: GatewayStatus, max_depth: int, max_unsent_age_s: float) -> list[str]:
    troubles = []
    if status.state == "offline":
        troubles.append("offline")
    if status.buffer_depth is not None and status.buffer_depth >= max_depth:
        troubles.append("buffer")
    if status.oldest_unsent_age_s is not None and status.oldest_unsent_age_s >= max_unsent_age_s:
        troubles.append("unsent")
    if any(status.device_errors.values()):
        troubles.append("device_errors")
    if status.clock_synced is False or status.clock_problem:
        troubles.append("clock")
    return troubles
