"""E-mail receiver over SMTP, upgraded with STARTTLS and logged in when configured."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from alerts.notifier.delivery import DeliveryError
from alerts.notifier.messages import email_message
from alerts.notifier.policy import Notification
from alerts.notifier.routing import EmailReceiver


class EmailSender:
    """smtplib in a worker thread: no extra dependency, and one e-mail a page is a light load."""

    type = "email"

    def __init__(self, config: EmailReceiver, fields: list[str], dashboard_url: str) -> None:
        self.name = config.name
        self._config = config
        self._fields = fields
        self._dashboard_url = dashboard_url

    async def send(self, notification: Notification) -> None:
        """Send one e-mail; raises DeliveryError (4xx replies retriable, 5xx not, as RFC 5321 says)."""
        message = email_message(
            notification, self._fields, self._dashboard_url, self._config.sender, self._config.to
        )
        await asyncio.to_thread(self._send_sync, message)

    def _send_sync(self, message: EmailMessage) -> None:
        c = self._config
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout) as smtp:
                if c.starttls:
                    context = ssl.create_default_context(cafile=str(c.ca_file) if c.ca_file else None)
                    smtp.starttls(context=context)
                if c.username:
                    smtp.login(c.username, c.password.get_secret_value() if c.password else "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused every recipient: {exc.recipients}", retriable=False) from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx replies are transient by definition (RFC 5321), 5xx are permanent.
            detail = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise DeliveryError(detail, retriable=400 <= exc.smtp_code < 500) from exc
        except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
            raise DeliveryError(f"SMTP set-up: {exc}", retriable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}", retriable=True) from exc
