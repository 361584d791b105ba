"""Load a YAML file into a pydantic model, with errors a person can act on.

Every configuration users write (gateway configs, device profiles, rule files)
goes through `load_yaml_model`, so they all fail the same way:

    gateway.yaml:14 devices.0.poll_s: Input should be greater than 0 (got -1)
"""

from typed_config.loading import ConfigError, describe_errors, line_of, load_yaml_model

__all__ = ["ConfigError", "describe_errors", "line_of", "load_yaml_model"]
