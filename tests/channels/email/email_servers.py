"""Real mail servers on loopback for the e-mail channel tests.

- **IMAP**: Debian's dovecot (``apt-get install dovecot-imapd``; ``make mail-servers``), run
  as a foreground subprocess with its own configuration, state and maildirs in a temporary
  directory and a free port. Any user name logs in with :data:`IMAP_PASSWORD`, and every test
  uses a user of its own, so each test has an empty mailbox. A second listener speaks
  implicit TLS with a self-signed certificate for ``localhost``.
- **SMTP**: aiosmtpd's controller (a real SMTP server in a thread), recording what it accepts;
  it can require AUTH and answer a recipient with a permanent refusal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
IMAP_PASSWORD = "imap-secret-42"
SMTP_USER, SMTP_PASSWORD = "relay@example.test", "smtp-secret-42"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path, str]:
    """(cert file, key file, cert PEM) for ``localhost`` and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_text(pem)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file, pem


@dataclass
class Dovecot:
    port: int
    tls_port: int
    ca_pem: str
    root: Path

    def server_tls_context(self) -> ssl.SSLContext:
        """The server side of TLS with the same certificate (for another test server)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.root / "cert.pem", self.root / "key.pem")
        return context

    def client(self, user: str) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(user, IMAP_PASSWORD)
        return imap

    def deliver(self, user: str, raw: bytes | EmailMessage) -> None:
        """A mail arrives in the user's INBOX (IMAP APPEND, as a delivery agent would)."""
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        imap = self.client(user)
        try:
            typ, detail = imap.append("INBOX", None, None, data)
            assert typ == "OK", detail
        finally:
            imap.logout()


_CONF = """
base_dir = {root}/run
state_dir = {root}/state
instance_name = rdtest-{port}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
{users}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
"""


@contextlib.contextmanager
def run_dovecot() -> Iterator[Dovecot]:
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot is not installed (make mail-servers: apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="rd-dovecot-"))
    root.chmod(0o755)
    uid, gid = (os.getuid(), os.getgid()) if os.getuid() != 0 else (65534, 65534)
    users = ""
    if os.getuid() != 0:  # without root, every dovecot process runs as us
        me = pwd.getpwuid(os.getuid()).pw_name
        users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    if os.getuid() == 0:
        for sub in ("mail", "home"):
            os.chown(root / sub, uid, gid)
    _cert, _key, pem = self_signed(root)
    port, tls_port = free_port(), free_port()
    (root / "dovecot.conf").write_text(_CONF.format(
        root=root, port=port, tls_port=tls_port, password=IMAP_PASSWORD, uid=uid, gid=gid,
        users=users))  # fmt: skip
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    server = Dovecot(port, tls_port, pem, root)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                server.client("probe").logout()
                break
            except (OSError, imaplib.IMAP4.error):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (root / "dovecot.log").read_text()
                        if (root / "dovecot.log").exists()
                        else ""
                    )
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"dovecot did not start: {err}\n{log}") from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpRecorder:
    """aiosmtpd handler: keeps what it accepts; refuses recipients listed in ``refuse``."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:  # fmt: skip
        if address.lower() in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = bytes(envelope.original_content or envelope.content)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:  # fmt: skip
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER
              and auth_data.password.decode() == SMTP_PASSWORD)  # fmt: skip
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    """An aiosmtpd server on a fixed loopback port that can be stopped and started again."""

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.recorder = SmtpRecorder()
        self.controller: Controller | None = None
        #: with a context: STARTTLS is offered and required before AUTH and MAIL
        self.tls_context = tls_context

    def start(self) -> None:
        tls = self.tls_context is not None
        self.controller = Controller(
            self.recorder, hostname="127.0.0.1", port=self.port, auth_require_tls=tls,
            authenticator=self.recorder.authenticate, ready_timeout=10,
            tls_context=self.tls_context, require_starttls=tls,
        )  # fmt: skip
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
