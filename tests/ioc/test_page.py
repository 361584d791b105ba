"""The operator page in a real browser (Debian's chromium, headless, driven by selenium):
log in, see a warning arrive live from the broker, acknowledge it, see the audit entry.
Screenshots go to test-output/ioc/ at the top of the repository."""

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from centre.influx import InfluxV1
from centre.line_protocol import Point
from ioc.accounts import Role
from public_alerts.cap_schema import validate_cap
from tests.ioc.conftest import PASSWORD, LiveApp, publish_warning, warning_message

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "ioc"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromium-driver is not installed: run scripts/bootstrap")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def shoot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_an_operator_sees_a_warning_arrive_and_acknowledges_it(
    live_app: LiveApp, browser: WebDriver, influx_db: InfluxV1, publish: Callable[[str, bytes, bool], None]
) -> None:
    now = int(time.time() * 1000)
    tags = {"station": "le_thuy", "sensor": "le_thuy.level", "gateway": "gw-le-thuy-01"}
    rising = [1.0 + 0.02 * i for i in range(72)]  # three days of hourly readings, up to 2.42 m: above BĐ2
    influx_db.write(
        [
            Point("water_level", tags, {"value": v, "quality": "good"}, now - (71 - i) * 3600_000)
            for i, v in enumerate(rising)
        ]
    )
    live_app.desk.readings.refresh_latest()
    live_app.add_user("lan", Role.operator)
    wait = WebDriverWait(browser, 15)

    browser.get(live_app.url)
    wait.until(ready.visibility_of_element_located((By.ID, "login-form")))
    assert browser.find_element(By.ID, "login-button").text == "Đăng nhập"  # Vietnamese by default
    browser.find_element(By.ID, "username").send_keys("lan")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-button").click()
    wait.until(ready.visibility_of_element_located((By.ID, "board")))
    wait.until(ready.text_to_be_present_in_element((By.ID, "live"), "trực tuyến"))  # the event stream is open
    tile = browser.find_element(By.CSS_SELECTOR, '.tile[data-station="le_thuy"]')
    assert "2.42 m" in tile.text and "level-0" in tile.get_attribute("class")
    assert browser.find_element(By.ID, "chart").text == "Chọn một trạm"  # the hydrograph waits for a pick
    assert "BĐ2 +0.22 · BĐ3 −0.28 m" in tile.text  # the reading against the sample levels 1.20/2.20/2.70 m
    shoot(browser, "1-board-before")

    # The rule service's decision, as it travels: a contract WarningMessage on the warnings topic.
    publish_warning(publish, warning_message(station="le_thuy", level=2, previous=0, ts_ms=now))
    row = wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, "#warnings tbody tr")))
    assert "Lệ Thủy" in row.text and "BĐ2" in row.text and "mới" in row.text
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, '.tile.level-2[data-station="le_thuy"]')))
    shoot(browser, "2-warning-arrived")

    row.find_element(By.CSS_SELECTOR, "button.acknowledge").click()
    wait.until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, "#warnings tbody tr .state"), "(lan)"))
    browser.find_element(By.CSS_SELECTOR, "#warnings tbody tr .station").click()
    wait.until(ready.text_to_be_present_in_element((By.ID, "audit"), "xác nhận bởi lan"))
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#chart svg path.series")))
    entries = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#audit li")]
    assert len(entries) == 3 and "phát cảnh báo bởi rules" in entries[0] and "xác nhận bởi lan" in entries[2]
    assert "bản nháp cảnh báo công khai bởi system" in entries[1]  # BĐ2 at Lệ Thủy awaits approval
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart svg line.threshold")) == 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart svg line.mark")) == 1  # the warning's mark
    assert browser.find_element(By.CSS_SELECTOR, "#chart svg text.mark-label").text == "BĐ2"
    shoot(browser, "3-acknowledged-with-audit")

    browser.find_element(By.CSS_SELECTOR, "#warnings tbody tr button.silence").click()
    browser.find_element(By.ID, "silence-reason").send_keys("đang kiểm tra trạm")
    browser.find_element(By.CSS_SELECTOR, '#silence-form button[value="ok"]').click()
    wait.until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, "#warnings tbody tr .state"), "tắt đến"))
    wait.until(ready.text_to_be_present_in_element((By.ID, "audit"), "tạm tắt bởi lan: đang kiểm tra trạm"))
    browser.find_element(By.ID, "lang").click()  # English on request
    wait.until(ready.text_to_be_present_in_element((By.ID, "warnings-panel"), "Active warnings"))
    wait.until(ready.text_to_be_present_in_element((By.ID, "audit"), "acknowledged by lan"))
    # (the run's broker may retain other tests' gateways in trouble: the list is in English either way)
    english = ("Every gateway is well.", "offline", "backlog buffered", "device errors", "clock problem")
    wait.until(lambda driver: any(word in driver.find_element(By.ID, "gateways").text for word in english))
    assert "Mọi gateway" not in browser.find_element(By.ID, "gateways").text
    shoot(browser, "4-english")

    # All clear by hand: Resolve asks for a note; the warning leaves the active list, the audit shows who and why.
    browser.find_element(By.CSS_SELECTOR, "#warnings tbody tr button.resolve").click()
    dialog = wait.until(ready.visibility_of_element_located((By.ID, "resolve-dialog")))
    assert "all clear" in dialog.text
    note_input = browser.find_element(By.ID, "resolve-note")
    for blank, refusal in (("", "valueMissing"), ("   ", "patternMismatch")):  # the note is required
        note_input.clear()
        note_input.send_keys(blank)
        dialog.find_element(By.CSS_SELECTOR, 'button[value="ok"]').click()
        assert dialog.is_displayed() and browser.execute_script(f"return arguments[0].validity.{refusal}", note_input)
    note = "river below BD1, checked on site"
    note_input.clear()
    note_input.send_keys(note)
    shoot(browser, "5-resolve-note")
    dialog.find_element(By.CSS_SELECTOR, 'button[value="ok"]').click()
    wait.until(ready.text_to_be_present_in_element((By.ID, "audit"), f"resolved by lan: {note}"))
    wait.until(ready.invisibility_of_element_located((By.CSS_SELECTOR, "#warnings tbody tr")))
    assert browser.find_element(By.ID, "no-warnings").text == "No active warnings."
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, '.tile.level-0[data-station="le_thuy"]')))
    entries = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#audit li")]
    assert sum("resolved by lan" in entry for entry in entries) == 1 and "resolved by lan" in entries[-1]
    # its BĐ2 draft is no longer offered for approval (the API would refuse it)
    draft = browser.find_element(By.CSS_SELECTOR, "#public-alerts tbody tr.public-draft")
    assert "draft, its warning has ended" in draft.text and not draft.find_elements(By.CSS_SELECTOR, "button.approve")
    shoot(browser, "6-resolved")
    browser.find_element(By.ID, "lang").click()  # back in Vietnamese: the resolved warning's audit follows
    wait.until(ready.text_to_be_present_in_element((By.ID, "audit"), f"kết thúc bởi lan: {note}"))
    with live_app.desk.sessions() as db:
        from ioc.schema import WarningRecord

        record = db.get(WarningRecord, 1)
        assert record is not None and record.acknowledged_by == "lan"
        assert (record.state, record.active, record.closed_by) == ("resolved", False, "lan")


def test_an_operator_approves_a_draft_and_sees_it_sent_and_in_the_feed(
    live_app: LiveApp, browser: WebDriver, publish: Callable[[str, bytes, bool], None]
) -> None:
    live_app.add_user("lan", Role.operator)
    wait = WebDriverWait(browser, 15)
    browser.get(live_app.url)
    wait.until(ready.visibility_of_element_located((By.ID, "login-form")))
    browser.find_element(By.ID, "username").send_keys("lan")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-button").click()
    wait.until(ready.text_to_be_present_in_element((By.ID, "live"), "trực tuyến"))
    assert browser.find_element(By.ID, "no-public-alerts").text == "Chưa có cảnh báo công khai."

    # BĐ2 at Kim Long: the sample policy takes it to the feed and the SMS webhook after an operator approves.
    bd2 = warning_message(station="kim_long", level=2, previous=0, rule="kim_long_level")
    publish_warning(publish, bd2)
    draft = wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, "#public-alerts tbody tr.public-draft")))
    assert "chờ duyệt" in draft.text and "BĐ2" in draft.text and "cap_feed, sms_gateway" in draft.text
    identifier = draft.get_attribute("data-public-alert")
    feed_url = f"{live_app.url}/public/alerts.atom"
    assert identifier not in httpx.get(feed_url).text  # a draft is not public
    shoot(browser, "7-public-draft")

    draft.find_element(By.CSS_SELECTOR, "button.approve").click()
    # the sender running in the app sends it: approved -> sent, pushed to the page
    sent = f'#public-alerts tbody tr.public-sent[data-public-alert="{identifier}"]'
    wait.until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, sent), "đã gửi (lan) · Alert"))
    assert not browser.find_elements(By.CSS_SELECTOR, f"{sent} button.approve")
    assert f"<id>{identifier}</id>" in httpx.get(feed_url).text
    cap = httpx.get(f"{live_app.url}/public/alerts/{identifier}.xml")
    assert cap.status_code == 200
    validate_cap(cap.content)  # the CAP 1.2 alert the feed links to
    browser.find_element(By.CSS_SELECTOR, "#warnings tbody tr[data-warning] .station").click()
    wait.until(ready.text_to_be_present_in_element((By.ID, "audit"), "đã gửi công khai bởi sender"))
    # Kim Long has no readings: the hydrograph says so on top of its frame (not hidden under it)
    no_reading = browser.find_element(By.CSS_SELECTOR, "#chart svg text.no-reading")
    assert no_reading.text == "chưa có số liệu"
    on_top = browser.execute_script(
        "const box = arguments[0].getBoundingClientRect();"
        "return document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2) === arguments[0];",
        no_reading,
    )
    assert on_top
    assert "duyệt công khai bởi lan" in browser.find_element(By.ID, "audit").text
    shoot(browser, "8-public-sent")

    browser.find_element(By.ID, "lang").click()
    wait.until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, sent), "sent (lan) · Alert"))
    assert "Public alerts" in browser.find_element(By.ID, "public-panel").text
