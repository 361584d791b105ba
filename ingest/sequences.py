"""Per-gateway sequence numbers: what was missed, what came twice.

A gateway numbers its telemetry batches 0, 1, 2, ... from its start. Seeing
them in order, the centre learns:

    seq == highest + 1           in order
    seq >  highest + 1           a gap: the numbers in between are missing (for now)
    seq in the missing set       late: a hole fills (out of order, e.g. a drained backlog)
    seq <= highest, not missing  a replay or redelivery (stored again, idempotently)
    seq == 0 after a higher one  the gateway restarted: a new numbering begins

`gaps` counts numbers that went missing (a hole filled later is taken back off
`missing` but not off `gaps`: the counter says how often delivery was out of
order or lossy, `missing` what is still unaccounted for). Holes are remembered
up to `max_holes` per gateway; older ones are forgotten (they stay counted).
With a shared subscription each worker sees only its share of a gateway's
batches, so its own counts are meaningful only for a single worker; see README.
"""

from dataclasses import dataclass, field

MAX_HOLES = 10_000


@dataclass
class GatewaySequence:
    highest: int
    last_seen_s: float
    batches: int = 1
    gaps: int = 0
    late: int = 0
    replays: int = 0
    restarts: int = 0
    missing: set[int] = field(default_factory=set)


@dataclass
class SequenceTracker:
    max_gateways: int = 10_000
    max_holes: int = MAX_HOLES
    gateways: dict[str, GatewaySequence] = field(default_factory=dict)
    untracked_batches: int = 0

    def observe(self, gateway: str, seq: int, now_s: float) -> None:
        state = self.gateways.get(gateway)
        if state is None:
            if len(self.gateways) >= self.max_gateways:
                self.untracked_batches += 1
                return
            self.gateways[gateway] = GatewaySequence(highest=seq, last_seen_s=now_s)
            return
        state.batches += 1
        state.last_seen_s = now_s
        if seq == state.highest + 1:
            state.highest = seq
        elif seq > state.highest + 1:
            state.gaps += seq - state.highest - 1
            if len(state.missing) + seq - state.highest - 1 <= self.max_holes:
                state.missing.update(range(state.highest + 1, seq))
            state.highest = seq
        elif seq in state.missing:
            state.missing.discard(seq)
            state.late += 1
        elif seq == 0:
            state.restarts += 1
            state.highest = 0
            state.missing.clear()
        else:
            state.replays += 1
