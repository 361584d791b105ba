"""How a warning's rule kind and level become CAP's urgency, severity, certainty and response.

One table, read by `public_alerts.cap` and printed in public_alerts/README.md (a test checks
that the README's table is this one). Level 0 is the all-clear (a CAP Cancel).

Reasoning: a level crossing is measured, so its certainty is Observed; a rate of rise or a
rainfall sum says the flood is coming (Likely); a forecast may be wrong (Possible at BĐ1).
Urgency follows how soon people must act: BĐ3 is now (Immediate), BĐ2 within the hour
(Expected), BĐ1 is for watching (Future). Extreme severity is never set by a rule: it is the
provincial steering committee's word (a historic flood), not a threshold's.
"""

from typing import Literal, NamedTuple

Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
Response = Literal["Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"]


class CapRating(NamedTuple):
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    response: Response


_OBSERVED: dict[int, CapRating] = {
    1: CapRating("Future", "Minor", "Observed", "Monitor"),
    2: CapRating("Expected", "Moderate", "Observed", "Prepare"),
    3: CapRating("Immediate", "Severe", "Observed", "Evacuate"),
}
_LIKELY: dict[int, CapRating] = {
    1: CapRating("Future", "Minor", "Likely", "Monitor"),
    2: CapRating("Expected", "Moderate", "Likely", "Prepare"),
    3: CapRating("Immediate", "Severe", "Likely", "Evacuate"),
}
_FORECAST: dict[int, CapRating] = {
    1: CapRating("Future", "Minor", "Possible", "Monitor"),
    2: CapRating("Future", "Moderate", "Likely", "Prepare"),
    3: CapRating("Expected", "Severe", "Likely", "Prepare"),
}
ALL_CLEAR = CapRating("Past", "Minor", "Observed", "AllClear")

# kind -> level -> rating
CAP_RATINGS: dict[str, dict[int, CapRating]] = {
    "level": _OBSERVED,
    "duration": _OBSERVED,
    "k_of_n": _OBSERVED,
    "escalation": _OBSERVED,
    "rate_of_rise": _LIKELY,
    "rainfall": _LIKELY,
    "forecast": _FORECAST,
}

# CAP category and the event's name per kind: floods are "Met" (CAP 1.2: "Meteorological
# (inc. flood)"); "Geo" is kept for landslide rules, which Floodwatch does not have yet.
CAP_EVENTS: dict[str, tuple[str, str, str]] = {
    # kind: (category, event vi-VN, event en-US)
    "level": ("Met", "Lũ trên sông", "River flood"),
    "duration": ("Met", "Lũ trên sông", "River flood"),
    "k_of_n": ("Met", "Lũ trên sông", "River flood"),
    "escalation": ("Met", "Lũ trên sông", "River flood"),
    "rate_of_rise": ("Met", "Lũ lên nhanh", "Rapidly rising river"),
    "rainfall": ("Met", "Mưa lớn", "Heavy rain"),
    "forecast": ("Met", "Dự báo lũ", "Flood forecast"),
}


def rating(kind: str, level: int) -> CapRating:
    """The CAP rating of a warning; KeyError for a kind that never goes public (staleness)."""
    if level == 0:
        return ALL_CLEAR
    return CAP_RATINGS[kind][level]


def markdown_table() -> str:
    rows = ["| kind | level | urgency | severity | certainty | responseType |", "|---|---|---|---|---|---|"]
    for kind, levels in CAP_RATINGS.items():
        for level, r in levels.items():
            rows.append(f"| {kind} | BĐ{level} | {r.urgency} | {r.severity} | {r.certainty} | {r.response} |")
    r = ALL_CLEAR
    rows.append(f"| any | clear (0) | {r.urgency} | {r.severity} | {r.certainty} | {r.response} |")
    return "\n".join(rows)
