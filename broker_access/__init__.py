"""Who may connect to the broker and what each may publish or read.

A registry (YAML, typed) lists the gateways and the centre's service accounts; from it
come Mosquitto's ACL file and password file. `floodwatch-admin` edits it (add a gateway,
rotate a password, revoke) and makes the broker reload without dropping anyone else.
"""
