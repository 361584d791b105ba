"""The IOC app's configuration (typed; `floodwatch-ioc run --config ioc.yaml`).

`ioc.yaml` beside this file is the sample the tests load; every default lives here.
"""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from centre.config import BrokerConfig, InfluxConfig
from public_alerts.policy import SAMPLE_POLICY
from rules.levels import SHIPPED_ALARM_LEVELS, SHIPPED_RULES
from typed_config import load_yaml_model

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_CONFIG = PACKAGE_DIR / "ioc.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    # SQLAlchemy URL: sqlite:///path/ioc.sqlite (WAL mode) or postgresql+psycopg://user@host:port/db
    url: str = "sqlite:///ioc.sqlite"


class IocBrokerConfig(BrokerConfig):
    # Each API instance its own id; with a shared group the warnings are shared between instances.
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = "floodwatch-ioc-1"
    shared_group: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")] | None = None
    # How long the feed waits for more warnings to take with one it has (a wait here is
    # added to every warning's way to the page; warnings are few).
    flush_ms: Annotated[int, Field(ge=0, le=1000)] = 0


class IocInfluxConfig(InfluxConfig):
    # The storage layout ingest creates (ingest/storage.py): raw readings, hourly and daily rollups.
    raw_rp: str = "autogen"
    rollup_1h_rp: str = "rollup_1h"
    rollup_1d_rp: str = "rollup_1d"
    # A chart of a span longer than this reads the hourly rollup, longer than the next the daily one.
    raw_max_span_h: Annotated[float, Field(gt=0)] = 72.0
    rollup_1h_max_span_d: Annotated[float, Field(gt=0)] = 90.0
    # The board's latest readings: refreshed this often, looked for this far back.
    latest_refresh_s: Annotated[float, Field(gt=0)] = 5.0
    latest_window_d: Annotated[float, Field(gt=0)] = 30.0


class HttpConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8470  # 0: any free port


class AuthConfig(_Strict):
    session_ttl_h: Annotated[float, Field(gt=0, le=24 * 30)] = 12.0
    # Login: more than `login_max_failures` failures for one user or one address within the
    # window are refused (429) until the window has passed.
    login_max_failures: Annotated[int, Field(ge=1)] = 5
    login_window_s: Annotated[float, Field(gt=0)] = 300.0
    # Set only behind HTTPS (a cookie marked Secure is not sent over plain HTTP).
    secure_cookie: bool = False


class LifecycleConfig(_Strict):
    # An active warning with no news from the rules for this long is expired.
    expire_after_h: Annotated[float, Field(gt=0)] = 72.0
    # The longest silence an operator may set.
    max_silence_h: Annotated[float, Field(gt=0)] = 72.0
    sweep_s: Annotated[float, Field(gt=0)] = 30.0
    # A gateway is "in trouble" when offline, with this many readings buffered, or unsent this long.
    trouble_buffer_depth: Annotated[int, Field(ge=1)] = 1000
    trouble_unsent_age_s: Annotated[float, Field(gt=0)] = 600.0


class SenderConfig(_Strict):
    # The sending service (ioc/sender.py) in this app: what operators approved goes out. Off,
    # approvals rest `approved` until an instance with it on sends them.
    run: bool = True
    # How often it looks for approvals made elsewhere (an approval here wakes it at once).
    poll_s: Annotated[float, Field(gt=0, le=3600)] = 2.0
    # A webhook delivery is held by this instance (named by broker.client_id) until its next attempt
    # is due plus the request's timeout and this margin; then another instance takes it over.
    delivery_lease_margin_s: Annotated[float, Field(gt=0, le=3600)] = 30.0


class IocConfig(_Strict):
    database: DatabaseConfig = DatabaseConfig()
    broker: IocBrokerConfig = IocBrokerConfig()
    influx: IocInfluxConfig = IocInfluxConfig()
    http: HttpConfig = HttpConfig()
    auth: AuthConfig = AuthConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    sender: SenderConfig = SenderConfig()
    alarm_levels: Path = SHIPPED_ALARM_LEVELS
    # The rule files the rule service runs, listed by /api/rules.
    rule_files: tuple[Path, ...] = (SHIPPED_RULES,)
    # Which warnings may go public, where and how (public_alerts/policy.yaml is the sample).
    public_policy: Path = SAMPLE_POLICY
    # The page's language when the browser does not ask for one: vi (Vietnamese) or en.
    default_language: Annotated[str, Field(pattern=r"^(vi|en)$")] = "vi"


def load_config(path: Path) -> IocConfig:
    return load_yaml_model(path, IocConfig)
