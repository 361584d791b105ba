"""ingest's paho speedups lean on paho internals: they must equal stock paho, and stay off on untested releases."""

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import paho_speedups
from ingest.paho_speedups import LeanMatcher, SharedTableProperties


def _packed() -> bytes:
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = 60
    properties.CorrelationData = b"\x00\x01"
    properties.UserProperty = [("gateway", "gw-1"), ("trace", "x")]
    return bytes(properties.pack())


def test_shared_table_properties_decode_like_paho_and_reset_between_packets() -> None:
    stock, shared = Properties(PacketTypes.PUBLISH), SharedTableProperties(PacketTypes.PUBLISH)
    stock.unpack(_packed())
    shared.unpack(_packed())
    assert str(shared) == str(stock)
    shared.unpack(bytes(Properties(PacketTypes.PUBLISH).pack()))  # an empty set clears the last one
    assert str(shared) == str(Properties(PacketTypes.PUBLISH))


def test_speedups_apply_on_the_installed_paho_only() -> None:
    assert paho_speedups.applicable()  # the release in the lock: the speedups are on
    assert not paho_speedups.applicable("2.3.0")
    assert not paho_speedups.applicable("3.0.0")
    client = paho_speedups.lean_client(mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5))
    assert isinstance(client._on_message_filtered, LeanMatcher)


def test_an_untested_paho_runs_stock(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(paho_speedups, "applicable", lambda version=None: False)
    client = paho_speedups.lean_client(mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5))
    assert not isinstance(client._on_message_filtered, LeanMatcher)
