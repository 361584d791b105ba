"""The IOC's warning desk: flood warnings with a lifecycle, an API and a page operators use.

`desk.Desk` holds one instance's parts (database, feeds, readings, push hub);
`api.create_app` serves them; `cli` is `floodwatch-ioc`. See README.md.
"""

from ioc.config import SAMPLE_CONFIG, IocConfig, load_config

__all__ = ["SAMPLE_CONFIG", "IocConfig", "load_config"]
