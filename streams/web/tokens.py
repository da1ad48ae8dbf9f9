"""Bearer tokens of the dashboard API: one shared token, and named machine tokens stored as hashes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field


def hash_token(token: str) -> str:
    """What LYTEWATCH_DASHBOARD_TOKENS stores for a token: `sha256:<hex>` (`lytewatch hash-token`)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who presented a valid token: `name` for a named machine token, None for the shared token."""

    name: str | None


@dataclass(frozen=True)
class Tokens:
    """The tokens the API accepts; none at all means an open API (allowed on loopback only)."""

    shared: str | None = None
    named: Mapping[str, str] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return bool(self.shared or self.named)

    def identify(self, offered: str) -> Caller | None:
        """The caller a token belongs to, or None; every comparison takes constant time."""
        offered = offered.strip()
        if not offered:
            return None
        if self.shared is not None and hmac.compare_digest(offered.encode(), self.shared.encode()):
            return Caller(None)
        digest = hash_token(offered)
        found = None
        for name, expected in self.named.items():
            if hmac.compare_digest(digest.encode(), expected.encode()):
                found = name
        return Caller(found) if found is not None else None
