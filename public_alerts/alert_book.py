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
"""

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from public_alerts.cap import MsgType, StationNames, cap_alert, cap_time, headline
from public_alerts.policy import PublicPolicy
from wire_contract import WarningMessage


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


@dataclass
class _Chain:
    key: str
    alerts: list[PublicAlert] = field(default_factory=list)


Outcome = Literal["alert", "repeat", "not_public"]


class AlertBook:
    """Turns warnings into CAP alerts and keeps the active ones (thread-safe).

    `names` gives a station's display name and river (from rules/alarm_levels.yaml);
    `clock_ms` is when an alert is sent (the decision's time in replays and tests).
    """

    def __init__(self, policy: PublicPolicy, names: Callable[[str], StationNames], channel: str = "cap_feed") -> None:
        self._policy = policy
        self._names = names
        self._channel = channel
        self._lock = threading.Lock()
        self._open: dict[str, _Chain] = {}
        self._by_id: dict[str, PublicAlert] = {}
        self._by_warning: dict[str, PublicAlert] = {}

    def take(self, warning: WarningMessage, sent_ms: int, *, follow_only: bool = False) -> PublicAlert | None:
        """The alert this transition makes (the same one again for a repeated warning_id), or None."""
        key = f"{warning.station}/{warning.rule}"
        with self._lock:
            known = self._by_warning.get(warning.warning_id)
            if known is not None:
                return known
            chain = self._open.get(key)
            if chain is None:
                if follow_only or warning.level == 0 or not self._routed(warning):
                    return None
                chain = self._open[key] = _Chain(key)
                msg_type: MsgType = "Alert"
            else:
                msg_type = "Cancel" if warning.level == 0 else "Update"
            references = tuple(alert.reference for alert in chain.alerts)
            identifier = alert_identifier(warning.warning_id)
            names = self._names(warning.station)
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
            alert = PublicAlert(
                identifier,
                msg_type,
                references,
                warning,
                sent_ms,
                xml,
                key,
                self._policy.sender,
                headline(warning, names, english=True),
            )
            chain.alerts.append(alert)
            self._by_id[identifier] = alert
            self._by_warning[warning.warning_id] = alert
            if msg_type == "Cancel":
                del self._open[key]
            return alert

    def follow(self, warning: WarningMessage, sent_ms: int) -> PublicAlert | None:
        """A change of a warning already public: its Update or Cancel (None if its chain is not open).

        Once an operator has approved a warning for the public, what the rules say next
        follows without a second approval: a public that was told of BĐ3 is told when the
        river falls and when it clears.
        """
        return self.take(warning, sent_ms, follow_only=True)

    def _routed(self, warning: WarningMessage) -> bool:
        return any(
            route.channel == self._channel
            for route in self._policy.routes_for(
                warning.station, warning.kind, warning.level, data_warning=warning.data_warning
            )
        )

    def active(self) -> list[PublicAlert]:
        """The newest alert of every open chain, newest first."""
        with self._lock:
            latest = [chain.alerts[-1] for chain in self._open.values()]
        return sorted(latest, key=lambda a: (a.sent_ms, a.identifier), reverse=True)

    def get(self, identifier: str) -> PublicAlert | None:
        with self._lock:
            return self._by_id.get(identifier)
