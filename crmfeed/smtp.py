"""Talking to a bound mailbox's SMTP server (aiosmtplib): test a login, send a batch over one
connection, and say of each failure whether it may pass (retry later) or not."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib

from crmfeed.registry.record_page import MailSecurity


@dataclass(frozen=True, slots=True)
class Mailbox:
    host: str
    port: int
    security: MailSecurity
    username: str
    password: str
    from_address: str
    from_name: str = ""


@dataclass(frozen=True, slots=True)
class Outgoing:
    key: int
    to: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Failure:
    """`transient`: it may pass (server down, a 4xx answer): try again later."""

    message: str
    transient: bool


class MailboxRefused(Exception):
    """The mailbox cannot be used: the reason, for the person binding it."""


async def check_host(host: str, port: int, *, allow_private: bool) -> None:
    """MailboxRefused unless every address the host resolves to is public: a mailbox must not
    make this server probe its own network (loopback, private, link-local, reserved ranges),
    unless SMTP_ALLOW_PRIVATE_HOSTS says the mail servers are there."""
    if allow_private:
        return
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        raise MailboxRefused(f"the host {host} cannot be resolved") from None
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global:
            raise MailboxRefused(
                f"the host {host} is a private or local address ({ip}); this server only "
                "connects to public mail servers (SMTP_ALLOW_PRIVATE_HOSTS allows others)"
            )


def _client(box: Mailbox, timeout_seconds: float) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=box.host,
        port=box.port,
        use_tls=box.security is MailSecurity.TLS,
        start_tls=box.security is MailSecurity.STARTTLS,
        timeout=timeout_seconds,
        tls_context=ssl.create_default_context(),
    )


def _failure(error: BaseException) -> Failure:
    """What a failed connection, login or send means for the mails it concerns."""
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return Failure(
            f"the server refused the mailbox's login ({error.code}); bind the mailbox again",
            transient=False,
        )
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        first = error.recipients[0] if error.recipients else None
        code = first.code if first else 550
        said = first.message if first else "refused"
        return Failure(f"the server refused the recipient: {code} {said}", transient=code < 500)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return Failure(f"the server answered {error.code} {error.message}", error.code < 500)
    if isinstance(error, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected)):
        return Failure(f"could not reach the server: {error}", transient=True)
    if isinstance(error, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return Failure("the server did not answer in time", transient=True)
    if isinstance(error, ssl.SSLError):
        return Failure(f"TLS failed: {error.reason or error}", transient=False)
    if isinstance(error, OSError):
        return Failure(f"could not reach the server: {error.strerror or error}", transient=True)
    return Failure(f"sending failed: {error}", transient=True)


async def check_login(box: Mailbox, timeout_seconds: float, *, allow_private: bool) -> None:
    """Connect and log in; MailboxRefused with the reason otherwise."""
    await check_host(box.host, box.port, allow_private=allow_private)
    client = _client(box, timeout_seconds)
    try:
        await client.connect()
        if box.username:
            await client.login(box.username, box.password)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        raise MailboxRefused(_failure(error).message) from None
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


def _message(box: Mailbox, mail: Outgoing) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((box.from_name, box.from_address))
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain=box.from_address.rpartition("@")[2] or None)
    message.set_content(mail.body)
    return message


async def send_all(
    box: Mailbox, mails: list[Outgoing], timeout_seconds: float, *, allow_private: bool
) -> dict[int, Failure | None]:
    """Send each mail over one connection: None for sent, else why not. A failure of the
    connection or the login fails every mail not sent yet, the same way."""
    results: dict[int, Failure | None] = {}
    try:
        await check_host(box.host, box.port, allow_private=allow_private)
    except MailboxRefused as refused:
        return dict.fromkeys((mail.key for mail in mails), Failure(str(refused), False))
    client = _client(box, timeout_seconds)
    try:
        await client.connect()
        if box.username:
            await client.login(box.username, box.password)
        for mail in mails:
            try:
                await client.send_message(_message(box, mail))
            except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as error:
                results[mail.key] = _failure(error)
                continue
            results[mail.key] = None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        failure = _failure(error)
        for mail in mails:
            results.setdefault(mail.key, failure)
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    return results
