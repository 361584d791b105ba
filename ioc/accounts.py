"""Operators' accounts: argon2 password hashes, roles, login tokens that expire, a login rate limit.

A login gives a random token (32 bytes, URL-safe); the database keeps only its SHA-256, so
a copy of the database does not let anyone in. The token travels as the session cookie
(HttpOnly, SameSite=Strict) for the page, or as `Authorization: Bearer <token>` for scripts.
"""

import hashlib
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession

from ioc.lifecycle import audit, now_ms
from ioc.schema import Session, User

USERNAME_PATTERN = r"^[a-z][a-z0-9_.-]{1,63}$"
MIN_PASSWORD_CHARS = 8
_hasher = PasswordHasher()
# Verified against when the user does not exist, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class Role(StrEnum):
    """Each role may do what the ones before it may."""

    viewer = "viewer"
    operator = "operator"  # acknowledge, silence, resolve
    rule_author = "rule_author"  # also reads the rule files
    admin = "admin"  # also manages accounts

    def allows(self, needed: "Role") -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class AccountError(ValueError):
    pass


def add_user(db: DbSession, username: str, password: str, role: Role, actor: str) -> User:
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise AccountError(f"a user name must match {USERNAME_PATTERN} (lower-case letters, digits, _ . -)")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if db.scalars(select(User).where(User.username == username)).first() is not None:
        raise AccountError(f"user {username!r} exists")
    user = User(
        username=username, password_hash=_hasher.hash(password), role=role.value, created_ms=now_ms(), enabled=True
    )
    db.add(user)
    audit(db, actor, "user_added", None, username=username, role=role.value)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(db: DbSession, username: str, password: str) -> User | None:
    user = db.scalars(select(User).where(User.username == username)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user if user is not None and user.enabled else None


def open_session(db: DbSession, user: User, ttl_s: float) -> tuple[str, int]:
    """A new token for `user` and when it expires (ms)."""
    token = secrets.token_urlsafe(32)
    created = now_ms()
    expires = created + int(ttl_s * 1000)
    db.add(Session(token_sha256=_digest(token), user_id=user.id, created_ms=created, expires_ms=expires))
    db.execute(delete(Session).where(Session.expires_ms < created))  # forget expired tokens as we go
    return token, expires


@dataclass(frozen=True)
class Caller:
    """Who a token belongs to, as long as it is valid."""

    username: str
    role: Role
    expires_ms: int


def caller_of_token(db: DbSession, token: str) -> Caller | None:
    session = db.get(Session, _digest(token))
    if session is None or session.expires_ms <= now_ms():
        return None
    user = db.get(User, session.user_id)
    if user is None or not user.enabled:
        return None
    return Caller(user.username, Role(user.role), session.expires_ms)


class CallerCache:
    """Tokens recently looked up, so a page's polls do not query the database for every request.

    An entry is trusted for `ttl_s` at most (and never past its token's expiry): a logout on
    this instance forgets the token at once, one on another instance after `ttl_s`.
    """

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Caller, float]] = {}

    def get(self, token: str) -> Caller | None:
        found = self._entries.get(_digest(token))
        if found is None:
            return None
        caller, cached_at = found
        if time.monotonic() - cached_at > self.ttl_s or caller.expires_ms <= now_ms():
            self._entries.pop(_digest(token), None)
            return None
        return caller

    def put(self, token: str, caller: Caller) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[_digest(token)] = (caller, time.monotonic())

    def forget(self, token: str) -> None:
        self._entries.pop(_digest(token), None)


def close_session(db: DbSession, token: str) -> None:
    db.execute(delete(Session).where(Session.token_sha256 == _digest(token)))


class LoginLimiter:
    """At most `max_failures` failed logins per user name and per client address within `window_s`."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, *keys: str) -> float:
        """0 if a login may be tried now, else how long until it may."""
        now = time.monotonic()
        with self._lock:
            waits = [
                times[0] + self.window_s - now
                for key in keys
                if len(times := self._recent(key, now)) >= self.max_failures
            ]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
