"""What the centre accepts: one telemetry message in, points and refusals out.

A message is refused whole when it breaks the contract (`contract`), names a
gateway other than its topic's (`topic_mismatch`) or a gateway not on the
allow-list (`unknown_gateway`). Otherwise each reading is judged alone: one
that nature cannot produce (`out_of_range`, see wire_contract.limits) or whose
clock is broken (`ts_future`, `ts_past`) is refused and the rest are stored, so
one bad sensor never hides its neighbours. Every refusal goes to the dead
letters with the message's raw bytes. Pure: no I/O, the caller passes `now_ms`.

Accepted readings come out as line protocol (`Checked.lines`, what is written);
`Checked.points` builds the same as Point objects, for inspection and tests.
"""

from collections.abc import Collection
from dataclasses import dataclass, field

from centre.line_protocol import Point
from ingest.points import reading_line, reading_point
from wire_contract import ContractError, PayloadForm, Reading, decode_telemetry_form, gateway_from_topic
from wire_contract.limits import out_of_physical_range

DAY_MS = 86_400_000
MAX_REASONS_PER_KIND = 3


@dataclass(frozen=True)
class Refusal:
    kind: str
    reason: str


@dataclass
class Checked:
    topic: str
    payload: bytes
    gateway: str | None = None
    seq: int | None = None
    form: PayloadForm | None = None  # json or packed, once decoded
    readings: int = 0
    accepted: list[Reading] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # line protocol of `accepted`, one per reading
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def points(self) -> list[Point]:
        """The accepted readings as points (what `lines` encodes)."""
        gateway = self.gateway or ""
        return [reading_point(gateway, reading) for reading in self.accepted]


@dataclass(frozen=True)
class Validator:
    gateways: Collection[str] | None = None
    max_future_s: int = 300
    max_age_days: float | None = None

    def check(self, topic: str, payload: bytes, now_ms: int, content_type: str | None = None) -> Checked:
        checked = Checked(topic, payload)
        try:
            batch, checked.form = decode_telemetry_form(payload, content_type)
        except ContractError as error:
            checked.refusals.append(Refusal("contract", error.reason))
            return checked
        if gateway_from_topic(topic) != batch.gateway:
            reason = f"payload gateway {batch.gateway!r} does not match topic {topic!r}"
            checked.refusals.append(Refusal("topic_mismatch", reason))
            return checked
        if self.gateways is not None and batch.gateway not in self.gateways:
            checked.refusals.append(Refusal("unknown_gateway", f"gateway {batch.gateway!r} is not on the allow-list"))
            return checked
        checked.gateway, checked.seq, checked.readings = batch.gateway, batch.seq, len(batch.readings)
        latest = now_ms + self.max_future_s * 1000
        earliest = None if self.max_age_days is None else now_ms - int(self.max_age_days * DAY_MS)
        reasons: dict[str, list[str]] = {}
        gateway, accepted, lines = batch.gateway, checked.accepted, checked.lines
        for reading in batch.readings:
            broken = out_of_physical_range(reading.quantity, reading.value)
            if broken is not None:
                why = f"{reading.sensor} {reading.quantity}={reading.value} outside [{broken.low}, {broken.high}]"
                reasons.setdefault("out_of_range", []).append(why)
            elif reading.ts_ms > latest:
                why = f"{reading.sensor} ts_ms={reading.ts_ms} is {(reading.ts_ms - now_ms) / 1000:.0f} s ahead"
                reasons.setdefault("ts_future", []).append(why)
            elif earliest is not None and reading.ts_ms < earliest:
                why = f"{reading.sensor} ts_ms={reading.ts_ms} is older than {self.max_age_days} days"
                reasons.setdefault("ts_past", []).append(why)
            else:
                lines.append(reading_line(gateway, reading))
                accepted.append(reading)
        for kind, whys in reasons.items():
            more = f" (and {len(whys) - MAX_REASONS_PER_KIND} more)" if len(whys) > MAX_REASONS_PER_KIND else ""
            checked.refusals.append(Refusal(kind, "; ".join(whys[:MAX_REASONS_PER_KIND]) + more))
        return checked
