"""The one settings model: every knob of every lytewatch process, read from LYTEWATCH_* variables."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.topic_registry import INPUT_TOPICS, default_name

ENV_PREFIX = "LYTEWATCH_"


class SettingsError(Exception):
    """A setting is invalid; the message names it by its environment variable."""


class Settings(BaseSettings):
    """Configuration of the worker, the dashboard and the notifier (see README, "Configuration")."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", env_file=None, validate_default=True
    )

    # --- broker ---
    broker: str = Field("kafka://127.0.0.1:9092", description="Kafka bootstrap servers, faust URL form")
    broker_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    broker_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    broker_sasl_username: str | None = None
    broker_sasl_password: SecretStr | None = None
    broker_ssl_cafile: Path | None = None

    # --- topics (names and their defaults: streams.topic_registry) ---
    partitions: int = Field(6, ge=1, le=1024, description="partitions of every topic lytewatch creates")
    topic_labs: str = default_name("topic_labs")
    topic_orders: str = default_name("topic_orders")
    topic_adt: str = default_name("topic_adt")
    topic_acks: str = default_name("topic_acks")
    topic_alerts: str = default_name("topic_alerts")
    topic_deadletter: str = default_name("topic_deadletter")
    topic_patient_events: str = default_name("topic_patient_events")
    topic_notifier_deadletter: str = default_name("topic_notifier_deadletter")
    topic_notifier_log: str = default_name("topic_notifier_log")
    # The producer's largest record; keep it at or below the broker's message.max.bytes (1,048,588 by
    # default). Dead letters of larger messages keep only the part of the raw bytes that fits.
    max_message_bytes: int = Field(1_000_000, ge=16_384, description="largest record lytewatch produces")
    topic_cds_feedback: str = default_name("topic_cds_feedback")
    input_retention_days: float = Field(7, gt=0)
    deadletter_retention_days: float = Field(30, gt=0)

    # --- worker ---
    app_id: str = Field("lytewatch", pattern=r"^[A-Za-z0-9._-]+$")
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65535)
    store: Literal["rocksdb://", "memory://"] = "rocksdb://"
    data_dir: Path = Path(".run/worker")
    hospital_tz: str = "UTC"
    rules_file: Path | None = None
    code_mapping_file: Path | None = None
    idle_patient_days: float = Field(7, gt=0, description="drop a patient silent this long (wall clock)")
    sweep_interval_s: float = Field(30, gt=0, description="how often the worker looks for patients to drop")
    # Well under Kubernetes' 30 s termination grace period, so the worker ends itself before SIGKILL.
    shutdown_timeout_s: float = Field(20, gt=0, le=600, description="SIGTERM stops the worker within this")
    stall_after_s: float = Field(
        120, gt=0, description="not ready when a stage has waiting input but finished no batch this long"
    )
    max_task_idle_ms: int = Field(
        10_000,
        ge=0,
        le=600_000,
        description=(
            "how long the engine holds a partition group back for an input partition that has nothing "
            "buffered and whose high-water is not known yet; one known to hold more records is waited "
            "for without limit (Kafka Streams' max.task.idle.ms, KIP-695)"
        ),
    )
    fetch_max_wait_ms: int = Field(
        20,
        ge=1,
        le=10_000,
        description=(
            "longest the broker holds a fetch of the worker's consumer when no new record is there (faust "
            "hard-codes 1500); records of partitions left out of a pending fetch wait up to this long"
        ),
    )
    commit_interval_s: float = Field(
        2.8,
        gt=0,
        le=3600,
        description=(
            "how often the worker commits the offsets it has applied (faust's broker_commit_interval); the "
            "one-hop engine also commits as soon as it has applied everything on the broker"
        ),
    )
    standby_replicas: int = Field(
        1,
        ge=0,
        le=16,
        description=(
            "copies of each patient-table partition that other workers of the group keep up to date from "
            "the changelog, so the one taking a failed worker's partitions over has little to replay"
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    # --- dashboard ---
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(8080, ge=1, le=65535)
    dashboard_token: SecretStr | None = None
    # Machine clients: {"<name>": "sha256:<hex of the token>"}; the name is who an ack comes from.
    dashboard_tokens: dict[str, str] = Field(default_factory=dict)
    dashboard_public_url: str = "http://127.0.0.1:8080"
    # Who may use the dashboard (docs/SECURITY.md, "Sign-in"): unset means "oidc" when an issuer is set,
    # "token" when tokens are, and otherwise the dashboard refuses to start (auth is on by default).
    dashboard_auth: Literal["oidc", "token", "none"] | None = None
    dashboard_oidc_issuer: str | None = None
    dashboard_oidc_client_id: str | None = Field(None, min_length=1)
    # Unset: a public client (PKCE alone); set: a confidential one (client_secret_basic as well).
    dashboard_oidc_client_secret: SecretStr | None = None
    dashboard_oidc_scopes: str = "openid profile"
    dashboard_oidc_roles_claim: str = Field("roles", min_length=1)
    dashboard_oidc_acknowledger_roles: frozenset[str] = frozenset({"lytewatch-acknowledger"})
    dashboard_oidc_viewer_roles: frozenset[str] = frozenset({"lytewatch-viewer"})
    # Signs and encrypts the session cookie; unset in token mode means a random key per process.
    dashboard_session_secret: SecretStr | None = None
    dashboard_session_hours: float = Field(12, gt=0, le=24 * 7)
    dashboard_history_per_alert: int = Field(
        100, ge=2, le=100_000, description="events kept per alert: the first and the latest"
    )
    # A line the page shows on top of the board, e.g. that it shows demo data and how time is compressed.
    dashboard_notice: str | None = Field(None, max_length=2000)

    # --- notifier ---
    notifier_routes_file: Path | None = None
    notifier_web_port: int = Field(6068, ge=1, le=65535)
    # Where a notifier with no committed offsets starts: "latest" so a new deployment does not page for
    # alerts raised before it existed.
    notifier_start_from: Literal["earliest", "latest"] = "latest"

    # --- MLLP listener (streams/edges/mllp.py) ---
    mllp_host: str = "127.0.0.1"
    mllp_port: int = Field(2575, ge=1, le=65535)
    mllp_web_port: int = Field(6069, ge=1, le=65535, description="the listener's /metrics, /healthz, /readyz")
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    mllp_max_message_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    # How long a message may wait for the broker's confirmation before the sender gets AE (and retries).
    mllp_write_timeout_s: float = Field(10.0, gt=0, le=300)

    # --- CDS Hooks (streams/edges/cds_hooks.py, on the worker's web port) ---
    # {"<iss>": "<JWKS URL or file path>"}: the EHRs whose signed JWTs are accepted.
    cds_issuers: dict[str, str] = Field(default_factory=dict)
    # The base URL the EHR calls (the JWT `aud` is <this>/cds-services/<id>); default http://web_host:web_port.
    cds_public_url: str | None = None
    cds_allow_unauthenticated: bool = False
    # When the EHR's FHIR Patient ids are not the MRN our HL7 feeds key patients by: the identifier system
    # of that MRN, read from the prefetched Patient (discovery then asks for it).
    cds_patient_identifier_system: str | None = None
    # Bearer token of GET /patients/{id}/state, which workers also use to ask each other.
    state_token: SecretStr | None = None

    @field_validator("dashboard_tokens")
    @classmethod
    def _tokens_hashed(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not _TOKEN_NAME.fullmatch(name):
                raise ValueError(f"token name {name!r}: letters, digits and . _ - only (at most 64)")
            if not _TOKEN_HASH.fullmatch(digest):
                raise ValueError(f"token {name!r}: expected sha256:<64 hex digits> (lytewatch hash-token)")
        return value

    @field_validator("cds_issuers", "dashboard_tokens", mode="before")
    @classmethod
    def _json_mapping(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            shape = _JSON_SHAPES[str(info.field_name)]
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"expected JSON {shape}: {exc}") from exc
        return value

    @field_validator("dashboard_oidc_acknowledger_roles", "dashboard_oidc_viewer_roles", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("dashboard_oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("expected the issuer URL, e.g. https://login.hospital.example/realms/staff")
        # Tokens and the discovery document must not cross the network in clear; loopback is for tests.
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("an issuer off this machine must use https")
        return value.rstrip("/")

    @field_validator("dashboard_session_secret")
    @classmethod
    def _long_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError("at least 32 characters (openssl rand -hex 32)")
        return value

    @field_validator("cds_allow_unauthenticated")
    @classmethod
    def _unauthenticated_only_on_loopback(cls, value: bool, info: ValidationInfo) -> bool:
        host = str(info.data.get("web_host", "127.0.0.1"))
        if value and not _is_loopback(host):
            raise ValueError(
                f"unauthenticated CDS Hooks are for local development only; LYTEWATCH_WEB_HOST is {host!r}"
            )
        return value

    @field_validator("mllp_tls_key")
    @classmethod
    def _cert_and_key(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("mllp_tls_cert") is None):
            raise ValueError("LYTEWATCH_MLLP_TLS_CERT and LYTEWATCH_MLLP_TLS_KEY go together")
        return value

    @field_validator("hospital_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        for server in value.split(";"):
            host = server.removeprefix("kafka://")
            name, _, port = host.rpartition(":")
            if not name or not port.isdigit():
                raise ValueError(f"expected kafka://host:port (';' between servers), got {value!r}")
        return value

    @field_validator("broker_sasl_password", "dashboard_token", "state_token", "dashboard_oidc_client_secret")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty secret once silently meant "no authentication": leave the variable unset for that.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty (leave the variable unset instead)")
        return value

    @field_validator("broker_ssl_cafile")
    @classmethod
    def _cafile_readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.broker_security_protocol.startswith("SASL"):
            for name in ("broker_sasl_username", "broker_sasl_password"):
                if not getattr(self, name):
                    protocol = f"{ENV_PREFIX}BROKER_SECURITY_PROTOCOL={self.broker_security_protocol}"
                    raise ValueError(f"{ENV_PREFIX}{name.upper()}: required with {protocol}")
        self._dashboard_auth_consistent()
        return self

    def _dashboard_auth_consistent(self) -> None:
        """Refuse what the mode needs but lacks, and no auth off loopback (every process checks this)."""
        host, mode = self.dashboard_host, self.dashboard_auth
        tokens = self.dashboard_token is not None or bool(self.dashboard_tokens)
        if mode == "none" and not _is_loopback(host):
            raise ValueError(
                f"{ENV_PREFIX}DASHBOARD_AUTH=none is for a dashboard on loopback only; "
                f"{ENV_PREFIX}DASHBOARD_HOST is {host}"
            )
        if mode == "token" and not tokens:
            raise ValueError(f"{ENV_PREFIX}DASHBOARD_AUTH=token: set {ENV_PREFIX}DASHBOARD_TOKEN or _TOKENS")
        if mode == "oidc" or (mode is None and self.dashboard_oidc_issuer is not None):
            for name in ("dashboard_oidc_issuer", "dashboard_oidc_client_id", "dashboard_session_secret"):
                if getattr(self, name) is None:
                    raise ValueError(f"{ENV_PREFIX}{name.upper()}: required for OpenID Connect sign-in")
        if mode is None and not tokens and self.dashboard_oidc_issuer is None and not _is_loopback(host):
            raise ValueError(
                f"{ENV_PREFIX}DASHBOARD_HOST: {host} serves other machines, so sign-in "
                f"({ENV_PREFIX}DASHBOARD_OIDC_ISSUER) or {ENV_PREFIX}DASHBOARD_TOKEN or _TOKENS must be set "
                "(or listen on 127.0.0.1)"
            )

    @property
    def dashboard_auth_mode(self) -> Literal["oidc", "token", "none"]:
        """The dashboard's effective mode; SettingsError when nothing says who may use it."""
        if self.dashboard_auth is not None:
            return self.dashboard_auth
        if self.dashboard_oidc_issuer is not None:
            return "oidc"
        if self.dashboard_token is not None or self.dashboard_tokens:
            return "token"
        raise SettingsError(
            "the dashboard needs to know who may use it: set LYTEWATCH_DASHBOARD_OIDC_ISSUER, "
            "_OIDC_CLIENT_ID and _SESSION_SECRET (people sign in with the hospital's identity provider), "
            "or LYTEWATCH_DASHBOARD_TOKENS / _TOKEN (bearer tokens), or LYTEWATCH_DASHBOARD_AUTH=none "
            "(no sign-in; loopback only, e.g. a demo)"
        )

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.hospital_tz)

    @property
    def bootstrap_servers(self) -> str:
        """host:port[,host:port] for plain aiokafka clients."""
        return ",".join(s.removeprefix("kafka://") for s in self.broker.split(";"))

    @property
    def input_topics(self) -> dict[str, str]:
        """Input kind -> topic name."""
        return {kind: getattr(self, topic.setting) for kind, topic in INPUT_TOPICS.items()}


_JSON_SHAPES = {
    "cds_issuers": '{"<iss>": "<JWKS URL or file>"}',
    "dashboard_tokens": '{"<name>": "sha256:<hex>"}',
}
_TOKEN_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TOKEN_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_SECRET_FIELDS = frozenset(
    {
        "broker_sasl_password",
        "dashboard_token",
        "dashboard_tokens",
        "state_token",
        "dashboard_oidc_client_secret",
        "dashboard_session_secret",
    }
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment; a bad value raises SettingsError naming the variable."""
    env = os.environ if environ is None else environ
    values = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in Settings.model_fields
    }
    try:
        # Values are passed explicitly so that `environ` (tests, the CLI) is the only source.
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a rule across settings: its message names them
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            field = str(error["loc"][0])
            # Never echo a secret back into a log.
            shown = "***" if field in _SECRET_FIELDS else repr(error.get("input"))
            problems.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']} (got {shown})")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
