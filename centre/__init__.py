"""The centre's toolkit: what ingest, the rule service and the IOC app share.

- `mqtt_consumer`: an MQTT 5 consumer that acknowledges a message only after it was handled;
- `influx`: an InfluxDB v1 HTTP API client;
- `line_protocol`: InfluxDB line protocol, refusing every name InfluxDB cannot store as given.

It depends on the wire contract and nothing else of the project; nothing here imports
`ingest`, `rules` or the IOC app.
"""
