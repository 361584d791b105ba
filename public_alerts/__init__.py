"""Warnings that reach citizens: the public-alert policy, CAP 1.2 alerts, the Atom feed, webhooks.

- `policy`: which warnings go public, for which areas, by which channels, approved how;
- `cap` / `cap_mapping` / `cap_schema`: CAP 1.2 alerts (vi-VN and en-US), the rating table,
  validation against the OASIS schema;
- `alert_book`: Alert -> Update -> Cancel chains with stable identifiers, the active alerts;
- `feed`: the Atom feed and each alert's CAP XML, as a FastAPI router for the IOC app;
- `webhooks` / `delivery_log`: signed JSON with retries, rate limits and a dead-letter list.
"""

from public_alerts.alert_book import AlertBook, PublicAlert, alert_identifier
from public_alerts.cap import StationNames, cap_alert, cap_time
from public_alerts.cap_mapping import CapRating, markdown_table, rating
from public_alerts.cap_schema import CapInvalid, validate_cap
from public_alerts.policy import SAMPLE_POLICY, PublicPolicy, load_policy

__all__ = [
    "SAMPLE_POLICY",
    "AlertBook",
    "CapInvalid",
    "CapRating",
    "PublicAlert",
    "PublicPolicy",
    "StationNames",
    "alert_identifier",
    "cap_alert",
    "cap_time",
    "load_policy",
    "markdown_table",
    "rating",
    "validate_cap",
]
