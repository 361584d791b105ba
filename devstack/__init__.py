"""The development stack: real Mosquitto and InfluxDB on free loopback ports,
station simulators replaying recorded floods, and the one-command demo."""
