"""A real SMTP server (aiosmtpd) in the test process, with AUTH, that can refuse recipients
and be stopped and started again on its port."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USERNAME = "ann@mail.example"
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MailServer:
    port: int = field(default_factory=free_port)
    received: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == USERNAME
            and auth_data.password.decode() == PASSWORD
        )
        self.logins.append((auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self.authenticate,
            auth_required=False,  # AUTH is offered and checked; required, it warns without TLS
            auth_require_tls=False,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def bodies(self) -> dict[str, str]:
        """Each received mail's body by its To address."""
        return {
            str(message["To"]): message.get_content().replace("\r\n", "\n")
            for message in self.received
        }
