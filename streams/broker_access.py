"""Start-up check that the broker accepts our TLS and SASL settings: wrong ones are fatal, not retried."""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from streams.errors import StreamsError
from streams.kafka import client_options
from streams.settings import Settings


class BrokerAccessError(StreamsError):
    """The broker answered but refused us (credentials, CA, protocol): waiting will not help."""


async def check_broker_access(settings: Settings, within: float = 10.0) -> bool:
    """True when one bootstrap server accepted a connection as every client will make it.

    False when none could be reached (the broker may not be up yet: the caller waits and tries again).
    Raises BrokerAccessError, naming the setting to fix, when the broker refused the TLS handshake or
    the SASL credentials: aiokafka's own clients only log that and retry for ever.
    """
    options = client_options(settings)
    protocol = settings.broker_security_protocol
    for server in settings.bootstrap_servers.split(","):
        host, _, port = server.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host,
                    int(port),
                    request_timeout_ms=int(within * 1000),
                    ssl_context=options.get("ssl_context"),
                    security_protocol=protocol,
                    sasl_mechanism=options.get("sasl_mechanism"),
                    sasl_plain_username=options.get("sasl_plain_username"),
                    sasl_plain_password=options.get("sasl_plain_password"),
                ),
                within,
            )
        except (SaslAuthenticationFailed, AuthenticationFailedError) as exc:
            user = settings.broker_sasl_username
            raise BrokerAccessError(
                f"broker {server} refused the SASL credentials of user {user!r} "
                f"({settings.broker_sasl_mechanism}): check LYTEWATCH_BROKER_SASL_USERNAME and "
                f"LYTEWATCH_BROKER_SASL_PASSWORD ({type(exc).__name__})"
            ) from None
        except (UnsupportedSaslMechanismError, IllegalSaslStateError) as exc:
            raise BrokerAccessError(
                f"broker {server} does not accept SASL mechanism {settings.broker_sasl_mechanism}: "
                f"check LYTEWATCH_BROKER_SASL_MECHANISM ({type(exc).__name__})"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise BrokerAccessError(
                f"broker {server}: its TLS certificate is not trusted ({exc.verify_message}): "
                "check LYTEWATCH_BROKER_SSL_CAFILE"
            ) from None
        except ssl.SSLError as exc:
            raise BrokerAccessError(
                f"broker {server}: TLS handshake failed ({exc.reason}): is it a TLS listener? "
                "check LYTEWATCH_BROKER and LYTEWATCH_BROKER_SECURITY_PROTOCOL"
            ) from None
        except (KafkaConnectionError, OSError, TimeoutError):
            continue
        conn.close()
        return True
    return False
