"""Confirmations gathered per gateway: every stored seq is confirmed once, in acks the contract accepts."""

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from ingest.confirmations import Confirmations
from wire_contract import ack_topic, decode_ack
from wire_contract.payload import MAX_SEQS_PER_ACK

stored_batches = st.lists(
    st.tuples(st.sampled_from(["gw-a", "gw-b", "gw-c"]), st.integers(0, 2**63 - 1)), max_size=3000
)


@given(stored_batches)
def test_every_stored_seq_is_confirmed_once_to_its_gateway(batches: list[tuple[str, int]]) -> None:
    sent: list[tuple[str, bytes | str]] = []
    confirmations = Confirmations(sent.extend, interval_s=60)
    for gateway, seq in batches:
        confirmations.stored(gateway, seq)
    confirmations.flush()
    confirmations.flush()  # nothing twice
    confirmed: Counter[tuple[str, int]] = Counter()
    for topic, payload in sent:
        ack = decode_ack(payload if isinstance(payload, bytes) else payload.encode())
        assert topic == ack_topic(ack.gateway) and len(ack.seqs) <= MAX_SEQS_PER_ACK
        confirmed.update((ack.gateway, seq) for seq in ack.seqs)
    assert confirmed == Counter(batches)
    assert len(sent) == sum(-(-n // MAX_SEQS_PER_ACK) for n in Counter(g for g, _ in batches).values())
    assert confirmations.sent_snapshot() == dict(Counter(g for g, _ in batches))


def test_with_no_interval_each_write_is_confirmed_at_once() -> None:
    sent: list[tuple[str, bytes | str]] = []
    confirmations = Confirmations(sent.extend, interval_s=0)
    confirmations.stored("gw-a", 7)
    assert [decode_ack(bytes(p) if isinstance(p, bytes) else p.encode()).seqs for _, p in sent] == [(7,)]
