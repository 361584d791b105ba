"""The IOC's two feeds from the broker: the rule service's warnings and the gateways' status.

Warnings come at least once (QoS 1, persistent session, acknowledged only after the
transaction that took them committed); a batch the consumer hands over is taken in one
transaction (up to `TRANSACTION_MAX` transitions each), every transition with its audit
entry and its public draft or follower (`on_transition`, in the same transaction), and a
repeat of a transition id changes nothing (`lifecycle.take_transition`). What must wait
for the commit (a follower's webhooks) runs after it. A database error leaves the batch
unacknowledged: the consumer retries it, and what had committed is then a repeat. Two
instances share the warnings through a shared subscription.

One transaction per batch, not per transition: 100 warnings at once cost a commit (and a
session) each, twice (the lifecycle's, then the public draft's), about a third of the
feed's time on SQLite (bench/public_alert_latency.py).

Gateway status is retained on `floodwatch/v1/<gateway>/status`; the newest per gateway
is kept in memory (`GatewayBoard`), the broker hands it again to a restarted instance.
"""

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from centre.mqtt_consumer import BatchConsumer
from ioc.config import IocBrokerConfig
from ioc.lifecycle import take_transition
from wire_contract import (
    STATUS_SUBSCRIPTION,
    WARNINGS_TOPIC,
    ContractError,
    GatewayStatus,
    WarningMessage,
    decode_status,
    decode_warning,
)

log = logging.getLogger(__name__)
# Transitions per transaction: larger batches hold SQLite's write lock longer (an operator's
# approval waits for it), smaller ones pay a commit more often.
TRANSACTION_MAX = 25
# In the feed's transaction, after the transition was taken: what to hand to `after_commit` (or None).
OnTransition = Callable[[DbSession, WarningMessage], object]


class WarningFeed:
    def __init__(
        self,
        broker: IocBrokerConfig,
        sessions: sessionmaker[DbSession],
        on_change: Callable[[], None],
        on_transition: OnTransition = lambda db, warning: None,
        after_commit: Callable[[list[Any]], None] = lambda results: None,
    ) -> None:
        self.sessions = sessions
        self.on_change = on_change
        self.on_transition = on_transition  # each new transition, in its transaction
        self.after_commit = after_commit  # what on_transition returned (not None) for a committed batch
        self.outcomes: Counter[str] = Counter()
        subscription = WARNINGS_TOPIC
        if broker.shared_group:
            subscription = f"$share/{broker.shared_group}/{WARNINGS_TOPIC}"
        self.consumer = BatchConsumer(
            broker.host,
            broker.port,
            broker.client_id,
            subscription,
            self.handle,
            flush_ms=broker.flush_ms,
            keepalive_s=broker.keepalive_s,
            login=broker.login(),
        )

    def handle(self, messages: list[mqtt.MQTTMessage]) -> None:
        warnings = []
        for message in messages:
            try:
                warnings.append(decode_warning(bytes(message.payload)))
            except ContractError as error:
                self.outcomes["refused"] += 1
                log.warning("warning_refused", extra={"event": "warning_refused", "reason": error.reason})
        changed = False
        for start in range(0, len(warnings), TRANSACTION_MAX):
            changed = self._take(warnings[start : start + TRANSACTION_MAX]) or changed
        if changed:
            self.on_change()

    def _take(self, warnings: Sequence[WarningMessage]) -> bool:
        """One transaction: each transition and what the desk does with it; then what waited for the commit."""
        outcomes = []
        results = []
        with self.sessions.begin() as db:
            for warning in warnings:
                outcome = take_transition(db, warning)
                if outcome != "repeat" and (result := self.on_transition(db, warning)) is not None:
                    results.append(result)
                outcomes.append(outcome)
        if results:
            self.after_commit(results)
        self.outcomes.update(outcomes)  # counted once committed, public draft included
        return any(outcome != "repeat" for outcome in outcomes)


class GatewayBoard:
    """The newest status of every gateway, as the retained topic holds it."""

    def __init__(self, broker: IocBrokerConfig) -> None:
        self._latest: dict[str, tuple[GatewayStatus, int]] = {}  # gateway -> (status, received ms)
        self._lock = threading.Lock()
        self.refused = 0
        self.consumer = BatchConsumer(
            broker.host,
            broker.port,
            f"{broker.client_id}-status",
            STATUS_SUBSCRIPTION,
            self.handle,
            flush_ms=200,
            keepalive_s=broker.keepalive_s,
            login=broker.login(),
        )

    def handle(self, messages: list[mqtt.MQTTMessage]) -> None:
        received = int(time.time() * 1000)
        for message in messages:
            try:
                status = decode_status(bytes(message.payload))
            except ContractError as error:
                self.refused += 1
                log.warning("status_refused", extra={"event": "status_refused", "reason": error.reason})
                continue
            with self._lock:
                known = self._latest.get(status.gateway)
                # A heartbeat older than the one held (a redelivery) does not replace it.
                if known is None or (status.ts_ms or 0) >= (known[0].ts_ms or 0):
                    self._latest[status.gateway] = (status, received)

    def snapshot(self) -> list[tuple[GatewayStatus, int]]:
        with self._lock:
            return [self._latest[gateway] for gateway in sorted(self._latest)]
