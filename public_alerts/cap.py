"""CAP 1.2 alerts for public warnings, built with lxml.

    cap_alert(warning, policy, station, identifier=..., msg_type=..., references=..., sent_ms=...)
        -> bytes (UTF-8 XML, schema-valid: public_alerts.cap_schema checks it)

One alert carries two `info` blocks, vi-VN first then en-US, with the same rating
(public_alerts.cap_mapping), the event, a headline, a description naming river, station,
level, the value and its trend, an instruction, and the areas of the policy for the level.
`sent` and `expires` are written in +07:00 (the schema refuses `Z`), whole seconds.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from lxml import etree

from public_alerts.cap_mapping import CAP_EVENTS, rating
from public_alerts.policy import Area, PublicPolicy
from wire_contract import WarningMessage

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
LOCAL_TZ = timezone(timedelta(hours=7))
MsgType = Literal["Alert", "Update", "Cancel"]

_LEVEL_NAMES_VI = {0: "dưới báo động 1", 1: "báo động 1", 2: "báo động 2", 3: "báo động 3"}
_LEVEL_NAMES_EN = {0: "below alarm level 1", 1: "alarm level 1", 2: "alarm level 2", 3: "alarm level 3"}
_INSTRUCTIONS_VI = {
    0: "Nước đã rút dưới mức báo động. Tiếp tục theo dõi thông tin của chính quyền địa phương.",
    1: "Theo dõi mực nước và thông tin của chính quyền địa phương.",
    2: "Chuẩn bị di chuyển người, tài sản đến nơi cao; không đi qua vùng nước chảy xiết.",
    3: "Di chuyển ngay đến nơi an toàn theo hướng dẫn của chính quyền; tránh xa sông, suối, vùng trũng.",
}
_INSTRUCTIONS_EN = {
    0: "The river has fallen below the alarm levels. Keep following local authorities' notices.",
    1: "Watch the river level and the notices of local authorities.",
    2: "Prepare to move people and belongings to higher ground; do not cross fast-flowing water.",
    3: "Move to safety now as local authorities direct; keep away from rivers, streams and low ground.",
}


@dataclass(frozen=True)
class StationNames:
    """The human names a description uses (rules/alarm_levels.yaml's `display_name`, `river`)."""

    station: str
    display_name: str
    river: str


def cap_time(ts_ms: int) -> str:
    """2020-10-18T14:00:00+07:00: whole seconds, the offset written out (CAP refuses Z)."""
    return datetime.fromtimestamp(ts_ms // 1000, LOCAL_TZ).isoformat()


def _trend(warning: WarningMessage) -> tuple[str, str]:
    if warning.level > warning.previous_level:
        return "đang lên", "rising"
    if warning.level < warning.previous_level:
        return "đang xuống", "falling"
    return "ổn định", "steady"


def headline(warning: WarningMessage, names: StationNames, *, english: bool) -> str:
    _, event_vi, event_en = CAP_EVENTS[warning.kind]
    if english:
        return f"{event_en}: {names.river} at {names.display_name}, {_LEVEL_NAMES_EN[warning.level]}"
    return f"{event_vi}: sông {names.river} tại {names.display_name}, {_LEVEL_NAMES_VI[warning.level]}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _area(info: etree._Element, area: Area, english: bool) -> None:
    element = _sub(info, "area")
    _sub(element, "areaDesc", area.description_en if english else area.description_vi)
    if area.polygon:
        _sub(element, "polygon", " ".join(f"{p.lat_deg:.5f},{p.lon_deg:.5f}" for p in area.polygon))
    for circle in area.circles:
        _sub(element, "circle", f"{circle.centre.lat_deg:.5f},{circle.centre.lon_deg:.5f} {circle.radius_km:g}")
    for geocode in area.geocodes:
        code = _sub(element, "geocode")
        _sub(code, "valueName", geocode.value_name)
        _sub(code, "value", geocode.value)


def _info(
    alert: etree._Element,
    warning: WarningMessage,
    names: StationNames,
    areas: Sequence[Area],
    expires_ms: int,
    policy: PublicPolicy,
    english: bool,
) -> None:
    kind = warning.kind
    category, event_vi, event_en = CAP_EVENTS[kind]
    rated = rating(kind, warning.level)
    info = _sub(alert, "info")
    _sub(info, "language", "en-US" if english else "vi-VN")
    _sub(info, "category", category)
    _sub(info, "event", event_en if english else event_vi)
    _sub(info, "responseType", rated.response)
    _sub(info, "urgency", rated.urgency)
    _sub(info, "severity", rated.severity)
    _sub(info, "certainty", rated.certainty)
    code = _sub(info, "eventCode")
    _sub(code, "valueName", "floodwatch:rule_kind")
    _sub(code, "value", kind)
    _sub(info, "expires", cap_time(expires_ms))
    _sub(info, "senderName", policy.sender_name_en if english else policy.sender_name_vi)
    trend_vi, trend_en = _trend(warning)
    value = f"{warning.value:.2f} {warning.unit}"
    if english:
        level = _LEVEL_NAMES_EN[warning.level]
        description = (
            f"The {names.river} river at {names.display_name} station is at {value} and {trend_en}: "
            f"{level} (was {_LEVEL_NAMES_EN[warning.previous_level]}). "
            f"Alarm levels 1/2/3: {' / '.join(f'{t:.2f}' for t in warning.thresholds_m)} {warning.unit}."
        )
        instruction = _INSTRUCTIONS_EN[warning.level]
    else:
        level = _LEVEL_NAMES_VI[warning.level]
        description = (
            f"Mực nước sông {names.river} tại trạm {names.display_name} là {value}, {trend_vi}: "
            f"{level} (trước đó {_LEVEL_NAMES_VI[warning.previous_level]}). "
            f"Mức báo động 1/2/3: {' / '.join(f'{t:.2f}' for t in warning.thresholds_m)} {warning.unit}."
        )
        instruction = _INSTRUCTIONS_VI[warning.level]
    _sub(info, "headline", headline(warning, names, english=english))
    _sub(info, "description", description)
    _sub(info, "instruction", instruction)
    _sub(info, "web", f"{policy.base_url.rstrip('/')}/public/alerts")
    for area in areas:
        _area(info, area, english)


def cap_alert(
    warning: WarningMessage,
    policy: PublicPolicy,
    names: StationNames,
    *,
    identifier: str,
    msg_type: MsgType,
    sent_ms: int,
    references: Sequence[str] = (),
    areas_level: int | None = None,
) -> bytes:
    """One CAP 1.2 alert; `references` are earlier alerts as `sender,identifier,sent`.

    `areas_level` is the level whose areas the alert names (a Cancel names the areas of the
    level it clears); by default the warning's own.
    """
    if msg_type != "Alert" and not references:
        raise ValueError(f"a CAP {msg_type} must reference the alert(s) it updates or cancels")
    alert = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(alert, "identifier", identifier)
    _sub(alert, "sender", policy.sender)
    _sub(alert, "sent", cap_time(sent_ms))
    _sub(alert, "status", "Actual")
    _sub(alert, "msgType", msg_type)
    _sub(alert, "scope", "Public")
    if references:
        _sub(alert, "references", " ".join(references))
    areas = policy.areas(warning.station, areas_level or max(warning.level, 1))
    expires_ms = sent_ms + int(policy.expires_after_h * 3_600_000)
    for english in (False, True):
        _info(alert, warning, names, areas, expires_ms, policy, english)
    return etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)
