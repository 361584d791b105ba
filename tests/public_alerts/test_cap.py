"""CAP 1.2 alerts: every alert made from any sequence of warnings is schema-valid and chained right."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from public_alerts import AlertBook, CapInvalid, PublicPolicy, StationNames, markdown_table, validate_cap
from public_alerts.cap import CAP_NS
from tests.public_alerts.conftest import warning

NS = {"cap": CAP_NS}
T0_MS = 1_602_979_200_000
KINDS = ["level", "duration", "rate_of_rise", "rainfall", "k_of_n", "escalation", "forecast"]


def _text(xml: bytes, path: str) -> list[str]:
    return [str(e) for e in etree.fromstring(xml).xpath(path, namespaces=NS)]


@st.composite
def warning_sequences(draw: st.DrawFn) -> list[tuple[str, str, int]]:
    """(station, kind, level) steps: each a change of level for that station and kind."""
    steps = []
    for _ in range(draw(st.integers(1, 25))):
        station = draw(st.sampled_from(["le_thuy", "kim_long", "phu_oc"]))
        kind = draw(st.sampled_from(KINDS))
        steps.append((station, kind, draw(st.integers(0, 3))))
    return steps


@settings(max_examples=60, deadline=None)
@given(warning_sequences())
def test_every_alert_of_any_warning_sequence_is_valid_cap_and_chained(
    policy: PublicPolicy, names: Callable[[str], StationNames], steps: list[tuple[str, str, int]]
) -> None:
    book = AlertBook(policy, names)
    levels: dict[tuple[str, str], int] = {}
    open_chains: dict[tuple[str, str], list[str]] = {}
    identifiers: set[str] = set()
    for index, (station, kind, level) in enumerate(steps):
        previous = levels.get((station, kind), 0)
        if level == previous:
            continue
        levels[(station, kind)] = level
        sent_ms = T0_MS + index * 60_000
        alert = book.take(warning(station, level, previous, sent_ms, kind=kind), sent_ms)
        chain = open_chains.get((station, kind))
        if chain is None and (level < 2):
            assert alert is None  # the sample policy makes BĐ2 and above public; a clear of nothing is nothing
            continue
        assert alert is not None
        validate_cap(alert.xml)
        assert alert.identifier not in identifiers
        identifiers.add(alert.identifier)
        assert _text(alert.xml, "/cap:alert/cap:sent/text()")[0].endswith("+07:00")
        assert _text(alert.xml, "//cap:info/cap:language/text()") == ["vi-VN", "en-US"]
        if chain is None:
            assert alert.msg_type == "Alert" and alert.references == ()
            assert not _text(alert.xml, "/cap:alert/cap:references")
            open_chains[(station, kind)] = [alert.reference]
            continue
        assert alert.msg_type == ("Cancel" if level == 0 else "Update")
        assert alert.references == tuple(chain)
        assert _text(alert.xml, "/cap:alert/cap:references/text()") == [" ".join(chain)]
        chain.append(alert.reference)
        if level == 0:
            del open_chains[(station, kind)]
    active = book.active()
    assert len(active) == len(open_chains)
    assert all(a.msg_type != "Cancel" for a in active)


def test_the_same_transition_gives_the_same_identifier_on_another_instance(
    policy: PublicPolicy, names: Callable[[str], StationNames]
) -> None:
    first, second = AlertBook(policy, names), AlertBook(policy, names)
    w = warning("le_thuy", 3, 2, T0_MS)
    a, b = first.take(w, T0_MS), second.take(w, T0_MS + 5)
    assert a is not None and b is not None and a.identifier == b.identifier
    assert first.take(w, T0_MS + 10) == a  # a repeat is the stored alert (same sent, same XML), not a new one


def test_a_bd3_alert_says_river_station_level_trend_and_areas(book: AlertBook) -> None:
    alert = book.take(warning("le_thuy", 3, 2, T0_MS), T0_MS)
    assert alert is not None
    assert _text(alert.xml, "//cap:info/cap:urgency/text()") == ["Immediate", "Immediate"]
    assert _text(alert.xml, "//cap:info/cap:severity/text()") == ["Severe", "Severe"]
    assert _text(alert.xml, "//cap:info/cap:category/text()") == ["Met", "Met"]
    english = _text(alert.xml, "//cap:info[cap:language='en-US']/cap:description/text()")[0]
    assert "Kiến Giang" in english and "Lệ Thủy" in english and "alarm level 3" in english and "rising" in english
    assert len(_text(alert.xml, "//cap:info[1]/cap:area/cap:polygon")) == 1
    assert _text(alert.xml, "//cap:info[1]/cap:area/cap:circle/text()") == ["17.18000,106.83000 12"]
    assert _text(alert.xml, "/cap:alert/cap:sent/text()") == ["2020-10-18T07:00:00+07:00"]


def test_the_schema_refuses_a_utc_z_and_a_missing_element(book: AlertBook) -> None:
    alert = book.take(warning("le_thuy", 3, 2, T0_MS), T0_MS)
    assert alert is not None
    with pytest.raises(CapInvalid, match="sent"):
        validate_cap(alert.xml.replace(b"2020-10-18T07:00:00+07:00</sent>", b"2020-10-18T00:00:00Z</sent>"))
    with pytest.raises(CapInvalid, match="msgType"):
        validate_cap(re.sub(rb"<msgType>.*</msgType>", b"", alert.xml))


def test_the_readme_shows_the_mapping_table_the_code_uses() -> None:
    readme = (Path(__file__).parents[2] / "public_alerts" / "README.md").read_text()
    assert markdown_table() in readme
