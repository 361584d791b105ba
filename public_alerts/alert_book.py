"""The chain of CAP alerts per warning, and which alerts are active.

A warning at one station by one rule is a chain: its first public transition is an
`Alert`, each later level change an `Update`, the all-clear (level 0) a `Cancel`; each
`Update` and `Cancel` references every alert of its chain so far (CAP `references`:
`sender,identifier,sent`, space-separated). The chain then closes: the next rise starts a
new one. An alert's identifier is derived from the transition id (the contract's
`warning_id`), so the same transition always gives the same identifier, on any instance.

A warning below the policy's routes (BĐ1 when the feed starts at BĐ2) makes no alert; a
fall below the route's level while a chain is open is still an `Update`, so receivers are
told the danger has lessened, and a fall to 0 cancels.

The alerts live in a database (`public_alerts/tables.py`, the IOC desk's own through its
Alembic chain; an in-memory SQLite one when no engine is given), so a restarted IOC and a
second instance on the same database serve the same feed.

A transition with a route that needs an operator (the feed, a webhook, a siren) is first a
`draft`; `approve` records the operator's approval (who, when) and the row rests `approved`
until the sending service takes it (`approved()`, `take`): then it is `sent`, and a sent row
with a CAP alert (`msg_type` set) is what the feed serves. A warning approved for sirens only
(no feed or webhook route) is `sent` without an alert: nothing of it is in the feed.

A warning routed to a webhook but not to the feed makes a CAP alert too, `in_feed` false:
the webhook carries its URL (`/public/alerts/<identifier>.xml`, served for every sent alert)
and the Atom feed leaves it out. A chain that was once in the feed stays in it (its Update
and Cancel are in the feed whatever their own level routes).
"""

import contextlib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from public_alerts.cap import MsgType, StationNames, cap_alert, cap_time, headline
from public_alerts.policy import PublicPolicy, WebhookChannel
from public_alerts.tables import metadata, public_alert_rows
from wire_contract import WarningMessage

T = public_alert_rows
# A sent row that is a CAP alert (a siren-only approval is sent without one): its XML is served at its URL.
SENT_ALERT = sa.and_(T.c.state == "sent", T.c.msg_type.is_not(None))
# ... and in the Atom feed (a chain routed to webhooks but not the feed is not).
IN_FEED = sa.and_(SENT_ALERT, T.c.in_feed.is_(True))
Approval = Literal["approved", "already_approved", "already_sent", "not_public"]


def alert_identifier(warning_id: str) -> str:
    """Stable, CAP-legal (no spaces, commas, < or &): the same transition, the same identifier."""
    return "vn.hue.floodwatch." + hashlib.sha256(warning_id.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PublicAlert:
    identifier: str
    msg_type: MsgType
    references: tuple[str, ...]
    warning: WarningMessage
    sent_ms: int
    xml: bytes
    chain: str
    sender: str
    headline_en: str

    @property
    def reference(self) -> str:
        """How a later alert names this one: sender,identifier,sent."""
        return f"{self.sender},{self.identifier},{cap_time(self.sent_ms)}"


@dataclass(frozen=True)
class FeedEntry:
    """What the Atom feed shows of an alert (read without its XML and warning: the feed is polled often)."""

    identifier: str
    msg_type: str
    sent_ms: int
    headline_en: str


@dataclass(frozen=True)
class AlertRecord:
    """One row of the store as the desk shows it: a draft, or an alert approved and sent."""

    identifier: str
    transition_id: str
    chain: str
    state: str
    msg_type: str | None
    references: tuple[str, ...]
    drafted_ms: int
    approved_by: str | None
    approved_ms: int | None
    sent_ms: int | None
    warning: WarningMessage
    channels: tuple[str, ...]  # the channels the policy routes it to (what an approval sends)


Outcome = Literal["alert", "repeat", "not_public"]


def memory_engine() -> sa.Engine:
    """An in-memory SQLite store shared by the threads of one process (tests, the CLI example)."""
    engine = sa.create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    metadata.create_all(engine)
    return engine


def _alert(row: Any) -> PublicAlert:
    return PublicAlert(
        row.identifier,
        row.msg_type,
        tuple(row.refs.split(" ")) if row.refs else (),
        WarningMessage.model_validate_json(row.warning),
        row.sent_ms,
        row.xml,
        row.chain,
        row.sender,
        row.headline_en,
    )


class AlertBook:
    """Turns warnings into CAP alerts and keeps them in a database (thread-safe in one process).

    With the in-memory store (no engine given: a single SQLite connection shared by threads) one
    lock serialises its use; on a database (the desk's) threads and instances coordinate through
    it, the conditional moves (draft/approved -> sent) deciding who sends. A connection is taken
    before the lock, never while holding it: a request holding a pooled connection and waiting for
    the lock, and the lock's holder waiting for a connection of the exhausted pool, had deadlocked
    the IOC under 100 approvals at once (bench/public_alert_latency.py).

    `names` gives a station's display name and river (from rules/alarm_levels.yaml);
    `clock_ms` is when an alert is sent (the decision's time in replays and tests).
    """

    def __init__(
        self,
        policy: PublicPolicy,
        names: Callable[[str], StationNames],
        channel: str = "cap_feed",
        *,
        engine: sa.Engine | None = None,
    ) -> None:
        self._policy = policy
        self._names = names
        self._channel = channel
        self._engine = engine if engine is not None else memory_engine()
        # Only the in-memory store needs it (one SQLite connection shared by threads). On the desk's
        # database each caller has its own connection and the database serialises writers; a Python
        # lock there deadlocked: a transaction holding SQLite's write lock (the feed's, the sender's
        # batch) waited for it while its holder (an operator's approval) waited for the write lock.
        self._lock: contextlib.AbstractContextManager[object] = (
            threading.Lock() if engine is None else contextlib.nullcontext()
        )

    @property
    def policy(self) -> PublicPolicy:
        return self._policy

    def take(
        self,
        warning: WarningMessage,
        sent_ms: int,
        *,
        follow_only: bool = False,
        approved_by: str | None = None,
        connection: sa.Connection | None = None,
    ) -> PublicAlert | None:
        """The alert this transition makes (the same one again for a repeated warning_id), or None.

        `approved_by` is the operator whose approval sends it; a draft of the transition is
        then marked approved (who, when) as it is sent. `connection` is a transaction of the
        caller's on the same database (the desk's, so the alert and its audit entry commit together).
        """
        if connection is not None:
            with self._lock:
                return self._take(connection, warning, sent_ms, follow_only, approved_by, False)
        try:
            with self._engine.begin() as db, self._lock:
                return self._take(db, warning, sent_ms, follow_only, approved_by, False)
        except IntegrityError:  # another instance sent the same transition first
            with self._engine.connect() as db, self._lock:
                row = db.execute(sa.select(T).where(T.c.transition_id == warning.warning_id)).one_or_none()
            return _alert(row) if row is not None and row.state == "sent" and row.xml is not None else None

    def _take(
        self,
        db: sa.Connection,
        warning: WarningMessage,
        sent_ms: int,
        follow_only: bool,
        approved_by: str | None,
        only_approved: bool,
    ) -> PublicAlert | None:
        key = f"{warning.station}/{warning.rule}"
        known = db.execute(sa.select(T).where(T.c.transition_id == warning.warning_id)).one_or_none()
        if only_approved and (known is None or known.state != "approved"):
            return None  # the sender's: another sender sent it (or it was withdrawn) since it was listed
        if known is not None and known.state == "sent":
            return _alert(known) if known.xml is not None else None
        last = self._last_sent(db, key)
        if last is None or last.msg_type == "Cancel":
            if follow_only or warning.level == 0 or not self.makes_alert(warning):
                return None
            msg_type: MsgType = "Alert"
            chain_id = alert_identifier(warning.warning_id)
            references: tuple[str, ...] = ()
        else:
            msg_type = "Cancel" if warning.level == 0 else "Update"
            chain_id = last.chain_id
            earlier = db.execute(sa.select(T).where(T.c.chain_id == chain_id, SENT_ALERT).order_by(T.c.seq))
            references = tuple(_alert(row).reference for row in earlier)
        identifier = alert_identifier(warning.warning_id)
        names = self._names(warning.station)
        headline_en = headline(warning, names, english=True)
        xml = cap_alert(
            warning,
            self._policy,
            names,
            identifier=identifier,
            msg_type=msg_type,
            sent_ms=sent_ms,
            references=references,
            areas_level=max(warning.level, warning.previous_level, 1),
        )
        values = {
            "chain_id": chain_id,
            "state": "sent",
            "msg_type": msg_type,
            "refs": " ".join(references),
            "headline_en": headline_en,
            "xml": xml,
            "sent_ms": sent_ms,
            "in_feed": self._routed(warning) or (last is not None and msg_type != "Alert" and bool(last.in_feed)),
        }
        if approved_by is not None:
            values |= {"approved_by": approved_by, "approved_ms": sent_ms}
        if known is None:
            db.execute(sa.insert(T).values(self._new_row(warning, key, sent_ms) | values))
        else:  # only from draft or approved: another sender that took it first wins (the row is then locked)
            taking = sa.update(T).where(T.c.seq == known.seq, T.c.state == known.state).values(**values)
            if db.execute(taking).rowcount != 1:
                return None
        if msg_type == "Cancel":  # drafts of the closed chain are moot
            self._withdraw(db, key)
        return PublicAlert(
            identifier, msg_type, references, warning, sent_ms, xml, key, self._policy.sender, headline_en
        )

    def send(self, warning: WarningMessage, sent_ms: int, connection: sa.Connection) -> PublicAlert | None:
        """The sending service's step: an approved transition's alert, now `sent`; None unless it was `approved`
        (another sender took it first) or when it makes no alert (no feed route)."""
        with self._lock:
            return self._take(connection, warning, sent_ms, False, None, True)

    def follow(
        self, warning: WarningMessage, sent_ms: int, connection: sa.Connection | None = None
    ) -> PublicAlert | None:
        """A change of a warning already public: its Update or Cancel (None if its chain is not open).

        Once an operator has approved a warning for the public, what the rules say next
        follows without a second approval: a public that was told of BĐ3 is told when the
        river falls and when it clears.
        """
        return self.take(warning, sent_ms, follow_only=True, connection=connection)

    def draft(self, warning: WarningMessage, now_ms: int, connection: sa.Connection) -> bool:
        """Record a transition with a route that needs an operator as a draft awaiting approval.

        An older draft of the same warning is withdrawn (the operator approves what the rules
        say now); a clear withdraws the warning's drafts. True when a draft was recorded.
        """
        key = f"{warning.station}/{warning.rule}"
        with self._lock:
            db = connection
            self._withdraw(db, key)
            if warning.level == 0 or not self.needs_operator(warning):
                return False
            if db.execute(sa.select(T.c.seq).where(T.c.transition_id == warning.warning_id)).first() is not None:
                return False
            db.execute(sa.insert(T).values(self._new_row(warning, key, now_ms) | {"state": "draft"}))
            return True

    def approve(self, warning: WarningMessage, actor: str, now_ms: int, connection: sa.Connection) -> Approval:
        """An operator approves this transition: it rests `approved` (who, when) until the sender takes it.

        The draft is approved; without one (drafted before the policy routed it so, or a
        chain already public) an approved row is recorded. Nothing is sent here.
        """
        if warning.level == 0 or not self.needs_operator(warning):
            return "not_public"
        key = f"{warning.station}/{warning.rule}"
        with self._lock:
            db = connection
            known = db.execute(sa.select(T).where(T.c.transition_id == warning.warning_id)).one_or_none()
            if known is not None and known.state in ("approved", "sent"):
                return "already_approved" if known.state == "approved" else "already_sent"
            approval = {"state": "approved", "approved_by": actor, "approved_ms": now_ms}
            if known is None:
                db.execute(sa.insert(T).values(self._new_row(warning, key, now_ms) | approval))
            else:  # a draft, or a draft a newer transition withdrew and the operator approves still
                db.execute(sa.update(T).where(T.c.seq == known.seq).values(**approval))
            return "approved"

    def approved(self, connection: sa.Connection, limit: int = 100) -> list[WarningMessage]:
        """Transitions approved and not yet sent, oldest first: the sending service's work."""
        query = sa.select(T.c.warning).where(T.c.state == "approved").order_by(T.c.seq).limit(limit)
        return [WarningMessage.model_validate_json(text) for text in connection.execute(query).scalars()]

    def mark_sent_without_alert(self, warning: WarningMessage, sent_ms: int, connection: sa.Connection) -> bool:
        """An approved transition with no feed route (sirens only): sent, with no CAP alert; False if taken before."""
        query = sa.update(T).where(T.c.transition_id == warning.warning_id, T.c.state == "approved")
        return connection.execute(query.values(state="sent", sent_ms=sent_ms)).rowcount == 1

    def later_drafts(self, warning: WarningMessage, connection: sa.Connection) -> list[WarningMessage]:
        """Drafts of this warning's chain recorded after it, oldest first (they follow it once it is sent)."""
        key = f"{warning.station}/{warning.rule}"
        seq = sa.select(T.c.seq).where(T.c.transition_id == warning.warning_id).scalar_subquery()
        query = sa.select(T.c.warning).where(T.c.chain == key, T.c.state == "draft", T.c.seq > seq).order_by(T.c.seq)
        return [WarningMessage.model_validate_json(text) for text in connection.execute(query).scalars()]

    def withdraw_approved(self, warning: WarningMessage, connection: sa.Connection) -> bool:
        """An approved transition that must not go out (its warning cleared meanwhile): withdrawn."""
        query = sa.update(T).where(T.c.transition_id == warning.warning_id, T.c.state == "approved")
        return connection.execute(query.values(state="withdrawn")).rowcount == 1

    def sent_since(self, since_ms: int, connection: sa.Connection) -> list[PublicAlert]:
        """The CAP alerts sent at or after `since_ms`, oldest first."""
        query = sa.select(T).where(SENT_ALERT, T.c.sent_ms >= since_ms).order_by(T.c.seq)
        return [_alert(row) for row in connection.execute(query)]

    def routed_to_feed(self, warning: WarningMessage) -> bool:
        return self._routed(warning)

    def makes_alert(self, warning: WarningMessage) -> bool:
        """True if a route takes it to the feed or a webhook: it is sent as a CAP alert."""
        return self._routed(warning) or bool(self._webhook_routes(warning))

    def webhook_channels(self, alert: PublicAlert, connection: sa.Connection) -> tuple[str, ...]:
        """The webhook channels a sent alert goes to: those its chain's alerts were routed to, its own too.

        An Update or Cancel reaches every receiver the chain's Alert reached, though its own level
        may route nowhere (an all clear, a fall below the route's level): whoever was told is told
        it is over.
        """
        chain_id = sa.select(T.c.chain_id).where(T.c.identifier == alert.identifier).scalar_subquery()
        query = sa.select(T.c.warning).where(T.c.chain_id == chain_id, SENT_ALERT).order_by(T.c.seq)
        warnings = [WarningMessage.model_validate_json(text) for text in connection.execute(query).scalars()]
        names: dict[str, None] = {}
        for warning in [*warnings, alert.warning]:
            names |= dict.fromkeys(self._webhook_routes(warning))
        return tuple(names)

    def _webhook_routes(self, warning: WarningMessage) -> list[str]:
        level = max(warning.level, warning.previous_level)
        routes = self._policy.routes_for(warning.station, warning.kind, level, data_warning=warning.data_warning)
        return [r.channel for r in routes if isinstance(self._policy.channels[r.channel], WebhookChannel)]

    def needs_operator(self, warning: WarningMessage) -> bool:
        """True if a route of the policy takes this warning only after an operator approves it."""
        return any(route.approval == "operator" for route in self._routes(warning))

    def channels(self, warning: WarningMessage) -> tuple[str, ...]:
        return tuple(dict.fromkeys(route.channel for route in self._routes(warning)))

    def _routes(self, warning: WarningMessage) -> list[Any]:
        return list(
            self._policy.routes_for(warning.station, warning.kind, warning.level, data_warning=warning.data_warning)
        )

    def _new_row(self, warning: WarningMessage, key: str, now_ms: int) -> dict[str, object]:
        return {
            "identifier": alert_identifier(warning.warning_id),
            "transition_id": warning.warning_id,
            "chain": key,
            "refs": "",
            "warning": warning.model_dump_json(),
            "sender": self._policy.sender,
            "headline_en": "",
            "drafted_ms": now_ms,
        }

    @staticmethod
    def _withdraw(db: sa.Connection, key: str) -> None:
        db.execute(sa.update(T).where(T.c.chain == key, T.c.state == "draft").values(state="withdrawn"))

    @staticmethod
    def _last_sent(db: sa.Connection, key: str) -> Any:
        query = sa.select(T).where(T.c.chain == key, SENT_ALERT).order_by(T.c.seq.desc()).limit(1)
        return db.execute(query).one_or_none()

    def _routed(self, warning: WarningMessage) -> bool:
        return any(route.channel == self._channel for route in self._routes(warning))

    def active(self) -> list[PublicAlert]:
        """The newest sent alert of every open chain, newest first."""
        newest = sa.select(sa.func.max(T.c.seq)).where(IN_FEED).group_by(T.c.chain)
        query = sa.select(T).where(T.c.seq.in_(newest), T.c.msg_type != "Cancel")
        with self._engine.connect() as db, self._lock:
            latest = [_alert(row) for row in db.execute(query)]
        return sorted(latest, key=lambda a: (a.sent_ms, a.identifier), reverse=True)

    def feed_entries(self) -> list[FeedEntry]:
        """`active()` as the Atom feed needs it: four columns a row, no XML read, no warning parsed
        (with 100 active alerts a read of the whole rows took 5 ms, and aggregators poll)."""
        newest = sa.select(sa.func.max(T.c.seq)).where(IN_FEED).group_by(T.c.chain)
        columns = (T.c.identifier, T.c.msg_type, T.c.sent_ms, T.c.headline_en)
        query = sa.select(*columns).where(T.c.seq.in_(newest), T.c.msg_type != "Cancel")
        with self._engine.connect() as db, self._lock:
            latest = [FeedEntry(*row) for row in db.execute(query)]
        return sorted(latest, key=lambda a: (a.sent_ms, a.identifier), reverse=True)

    def get(self, identifier: str) -> PublicAlert | None:
        """A sent alert (kept after its chain's Cancel; also one routed to webhooks only); a draft is not public."""
        with self._engine.connect() as db, self._lock:
            row = db.execute(sa.select(T).where(T.c.identifier == identifier, SENT_ALERT)).one_or_none()
        return _alert(row) if row is not None else None

    def get_by_transition(self, transition_id: str, connection: sa.Connection) -> PublicAlert | None:
        """The alert a transition was sent as, if it was."""
        query = sa.select(T).where(T.c.transition_id == transition_id, SENT_ALERT)
        row = connection.execute(query).one_or_none()
        return _alert(row) if row is not None else None

    def records(self, state: str | None = None, limit: int = 100) -> list[AlertRecord]:
        """The store as the desk shows it, newest first: drafts awaiting an operator, approved ones
        awaiting the sender, sent ones (and withdrawn drafts)."""
        query = sa.select(T).order_by(T.c.seq.desc()).limit(limit)
        if state is not None:
            query = query.where(T.c.state == state)
        with self._engine.connect() as db, self._lock:
            rows = list(db.execute(query))
        return [self._record(row) for row in rows]

    def record(self, transition_id: str, connection: sa.Connection) -> AlertRecord | None:
        row = connection.execute(sa.select(T).where(T.c.transition_id == transition_id)).one_or_none()
        return self._record(row) if row is not None else None

    def _record(self, row: Any) -> AlertRecord:
        warning = WarningMessage.model_validate_json(row.warning)
        return AlertRecord(
            row.identifier,
            row.transition_id,
            row.chain,
            row.state,
            row.msg_type,
            tuple(row.refs.split(" ")) if row.refs else (),
            row.drafted_ms,
            row.approved_by,
            row.approved_ms,
            row.sent_ms,
            warning,
            self.channels(warning),
        )
