"""The gateway: poll Modbus devices by profile, mark quality, publish to the centre over MQTT."""

from edge_agent.agent import Agent
from edge_agent.config import GatewayConfig, load_gateway_config

__all__ = ["Agent", "GatewayConfig", "load_gateway_config"]
