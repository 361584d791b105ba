"""Mosquitto's password file: `user:$7$<iterations>$<salt>$<hash>`, PBKDF2-SHA512.

The format `mosquitto_passwd` writes in Mosquitto 2.0 (101 iterations, 12-byte salt,
base64), so the broker checks passwords that `floodwatch-admin` hashed without the
password ever appearing on a command line.
"""

import base64
import hashlib
import secrets

ITERATIONS = 101
SALT_BYTES = 12


def new_password() -> str:
    """32 random bytes, URL-safe: 43 characters a technician never has to type."""
    return secrets.token_urlsafe(32)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def parse_password_file(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            user, _, hashed = line.partition(":")
            entries[user] = hashed
    return entries


def password_file_text(entries: dict[str, str]) -> str:
    return "".join(f"{user}:{hashed}\n" for user, hashed in sorted(entries.items()))
