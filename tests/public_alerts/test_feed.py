"""The Atom feed of active alerts and each alert's CAP XML at its stable URL, through the router."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree

from public_alerts import AlertBook, PublicPolicy, validate_cap
from public_alerts.feed import ATOM_NS, alerts_router
from tests.public_alerts.conftest import warning

T0_MS = 1_602_979_200_000
NS = {"a": ATOM_NS}


def test_the_feed_lists_active_alerts_and_links_their_cap(book: AlertBook, policy: PublicPolicy) -> None:
    app = FastAPI()
    app.include_router(alerts_router(book, policy, lambda: T0_MS))
    client = TestClient(app)

    empty = etree.fromstring(client.get("/public/alerts.atom").content)
    assert empty.xpath("//a:entry", namespaces=NS) == []

    book.take(warning("le_thuy", 3, 2, T0_MS), T0_MS)
    book.take(warning("kim_long", 2, 1, T0_MS + 60_000), T0_MS + 60_000)
    response = client.get("/public/alerts.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = etree.fromstring(response.content)
    titles = feed.xpath("//a:entry/a:title/text()", namespaces=NS)
    assert titles == [
        "Alert: River flood: Hương at Kim Long, alarm level 2",
        "Alert: River flood: Kiến Giang at Lệ Thủy, alarm level 3",
    ]
    links = feed.xpath("//a:entry/a:link[@type='application/cap+xml']/@href", namespaces=NS)
    for link in links:
        path = "/" + link.split("/", 3)[3]
        cap = client.get(path)
        assert cap.status_code == 200 and cap.headers["content-type"].startswith("application/cap+xml")
        validate_cap(cap.content)

    # Lệ Thủy falls back to BĐ2 then clears: its entry becomes the Update, then leaves the feed;
    # the cancelled chain's alerts stay at their URLs.
    update = book.take(warning("le_thuy", 2, 3, T0_MS + 120_000), T0_MS + 120_000)
    assert update is not None and update.msg_type == "Update"
    ids = etree.fromstring(client.get("/public/alerts.atom").content).xpath("//a:entry/a:id/text()", namespaces=NS)
    assert update.identifier in ids and len(ids) == 2
    cancel = book.take(warning("le_thuy", 0, 2, T0_MS + 180_000), T0_MS + 180_000)
    assert cancel is not None and cancel.msg_type == "Cancel"
    ids = etree.fromstring(client.get("/public/alerts.atom").content).xpath("//a:entry/a:id/text()", namespaces=NS)
    assert len(ids) == 1 and cancel.identifier not in ids
    assert client.get(f"/public/alerts/{cancel.identifier}.xml").status_code == 200
    assert client.get("/public/alerts/vn.hue.floodwatch.nope.xml").status_code == 404
