"""One life of an IOC's sending service, run as its own process so a test can kill it (SIGKILL).

    python -m tests.ioc.webhook_sender_life <database url> <policy.yaml> <owner> <lease margin s>

What the IOC app runs for webhooks (ioc/api.py): an `AlertSender` over the desk's database with a
`WebhookSender` named `owner`; at start it offers again the alerts sent within their expiry (so it
claims a delivery the test's sender committed without queueing) and resumes pending deliveries.
"""

import asyncio
import sys
from pathlib import Path

from ioc.database import open_engine, session_factory
from ioc.sender import AlertSender
from public_alerts import AlertBook, load_policy
from public_alerts.delivery_log import DeliveryLog
from public_alerts.sirens import CommandLog
from public_alerts.stations import station_names
from public_alerts.webhooks import WebhookSender
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels

SECRETS = {"TEST_SMS_SECRET": b"test-key"}


async def live(url: str, policy_path: Path, owner: str, lease_margin_s: float) -> None:
    engine = open_engine(url)
    policy = load_policy(policy_path)
    book = AlertBook(policy, station_names(load_alarm_levels(SHIPPED_ALARM_LEVELS)), engine=engine)
    log = DeliveryLog(engine)
    async with WebhookSender(policy, log, SECRETS, owner=owner, lease_margin_s=lease_margin_s) as hooks:
        sender = AlertSender(session_factory(engine), book, CommandLog(engine), hooks.deliver_many, lambda: None)
        sender.resume_deliveries = hooks.resume
        await sender.run()


if __name__ == "__main__":
    asyncio.run(live(sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])))
