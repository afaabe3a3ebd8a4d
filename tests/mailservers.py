"""A real Postfix and Dovecot on loopback, with throwaway configurations, for tests.

Bounce handling is only believable against the real thing: Postfix accepts
a message, fails to deliver it and writes its own DSN to the VERP address;
Dovecot serves that DSN over IMAP. Both run from a temporary folder with
their own ports, queue and logs, and never touch the system's mail set-up.

Domains (nothing leaves the machine):

- ``mailbranch.example`` is Postfix's local domain with no users: any message
  to it bounces with a DSN ("unknown user", 5.1.1).
- ``bounces.mailbranch.example`` lands in the ``bounces`` mailbox.
- any other domain (``example.com``...) lands in the ``inbox`` mailbox, so a
  test can read back exactly what Postfix delivered (DKIM checks, headers).

Both mailboxes are served by Dovecot over IMAP (plain on ``imap_port``,
implicit TLS with a self-signed certificate on ``imaps_port``).

Postfix's master must start as root, so the fixture skips, saying why,
where the tests do not run as root or the packages are missing
(``scripts/install --test`` installs them).
"""

from __future__ import annotations

import email
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Optional

import pytest

LOCAL_DOMAIN = "mailbranch.example"
BOUNCE_DOMAIN = "bounces.mailbranch.example"
MAILBOXES = {"bounces": "bounces-password", "inbox": "inbox-password"}
_MAIL_UID = 65534  # nobody: owns the maildirs Postfix writes and Dovecot reads


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def why_mail_servers_cannot_run() -> Optional[str]:
    """None when Postfix and Dovecot can run here, else the reason in one sentence."""
    missing = [name for name in ("postfix", "dovecot", "openssl") if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (scripts/install --test installs Postfix and Dovecot)"
    if os.geteuid() != 0:
        return "Postfix's master process must start as root; run the tests as root (as .ci/run does)"
    return None


@dataclass
class MailServers:
    """Where the running Postfix and Dovecot listen, and how to read what they delivered."""

    root: Path
    #: Postfix's SMTP listener (plain SMTP, no AUTH, relays for 127.0.0.0/8).
    host: str = "127.0.0.1"
    port: int = 0
    imap_port: int = 0
    imaps_port: int = 0
    #: Dovecot's self-signed certificate, to trust in a TLS test.
    certificate: Path = field(default_factory=Path)
    local_domain: str = LOCAL_DOMAIN
    bounce_domain: str = BOUNCE_DOMAIN
    passwords: dict[str, str] = field(default_factory=lambda: dict(MAILBOXES))

    @property
    def smtp_url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def maildir(self, mailbox: str) -> Path:
        return self.root / "mail" / mailbox

    def messages(self, mailbox: str) -> list[Message]:
        """Every message delivered to a mailbox so far, oldest first."""
        folder = self.maildir(mailbox)
        files = [p for sub in ("new", "cur") for p in (folder / sub).glob("*") if p.is_file()]
        files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [email.message_from_bytes(p.read_bytes()) for p in files]

    def wait_for(self, mailbox: str, matches: Callable[[Message], bool], timeout: float = 30.0) -> Message:
        """The first delivered message that matches; fails with Postfix's log after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages(mailbox):
                if matches(message):
                    return message
            if time.monotonic() > deadline:
                pytest.fail(f"no matching message reached {mailbox!r}; Postfix's log ends:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def dovecot_log(self) -> str:
        path = self.root / "dovecot" / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def clear(self, mailbox: str) -> None:
        """Forget what a mailbox holds (between tests that share the servers)."""
        for sub in ("new", "cur"):
            for path in (self.maildir(mailbox) / sub).glob("*"):
                path.unlink(missing_ok=True)


_MASTER_CF = """\
{host}:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-mailbranch-test
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mx.{local}
mydomain = {local}
myorigin = $myhostname
mydestination = {local}, localhost
inet_interfaces = {host}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Accept any local recipient at RCPT time, so an unknown one is a real DSN, not a 550.
local_recipient_maps =
alias_maps =
alias_database =
relayhost =
biff = no
smtpd_peername_lookup = no
virtual_mailbox_domains = regexp:{root}/conf/virtual-domains
virtual_mailbox_maps = regexp:{root}/conf/virtual-mailboxes
virtual_mailbox_base = {root}/mail
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{uid}
virtual_minimum_uid = 1
"""

_VIRTUAL_DOMAINS = """\
if !/^({local_re}|localhost)$/
/./ OK
endif
"""

_VIRTUAL_MAILBOXES = """\
/@{bounce_re}$/ bounces/
/./ inbox/
"""

_DOVECOT_CONF = """\
base_dir = {root}/dovecot/run
state_dir = {root}/dovecot/state
log_path = {root}/dovecot/dovecot.log
instance_name = dovecot-mailbranch-test
protocols = imap
listen = {host}
ssl = yes
ssl_cert = <{root}/dovecot/cert.pem
ssl_key = <{root}/dovecot/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/dovecot/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
    ssl = yes
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


def _run(*args: str, output: Path) -> None:
    """Run a command that may leave a daemon behind: its output goes to a file, not a pipe
    (a daemon holding the pipe open would make the wait for EOF last forever)."""
    with open(output, "ab") as sink:
        result = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {output.read_text(errors='replace')[-3000:]}")


def _wait_listening(port: int, what: str, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on port {port}:\n{log()[-3000:]}")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def start_mail_servers() -> MailServers:
    """Configure and start Postfix and Dovecot under a fresh folder in /tmp."""
    # Not pytest's tmp_path: that is 0700, and Postfix's and Dovecot's
    # unprivileged processes must reach the queue and the maildirs.
    root = Path(tempfile.mkdtemp(prefix="mbmail-", dir="/tmp"))
    root.chmod(0o755)
    servers = MailServers(root=root, port=_free_port(), imap_port=_free_port(), imaps_port=_free_port(),
                          certificate=root / "dovecot" / "cert.pem")
    values = dict(root=root, host=servers.host, port=servers.port, local=LOCAL_DOMAIN, uid=_MAIL_UID,
                  local_re=LOCAL_DOMAIN.replace(".", r"\."), bounce_re=BOUNCE_DOMAIN.replace(".", r"\."),
                  imap_port=servers.imap_port, imaps_port=servers.imaps_port)
    _write(root / "conf" / "main.cf", _MAIN_CF.format(**values))
    _write(root / "conf" / "master.cf", _MASTER_CF.format(**values))
    _write(root / "conf" / "virtual-domains", _VIRTUAL_DOMAINS.format(**values))
    _write(root / "conf" / "virtual-mailboxes", _VIRTUAL_MAILBOXES.format(**values))
    (root / "queue").mkdir()
    (root / "data").mkdir()
    shutil.chown(root / "data", "postfix")
    for mailbox in MAILBOXES:
        for sub in ("new", "cur", "tmp"):
            (root / "mail" / mailbox / sub).mkdir(parents=True)
    for path in [root / "mail", *(root / "mail").rglob("*")]:
        os.chown(path, _MAIL_UID, _MAIL_UID)

    dovecot = root / "dovecot"
    _write(dovecot / "dovecot.conf", _DOVECOT_CONF.format(**values))
    _write(dovecot / "users", "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in MAILBOXES.items()))
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(dovecot / "key.pem"), "-out", str(dovecot / "cert.pem"), output=root / "start.log")

    _run("postfix", "-c", str(root / "conf"), "start", output=root / "start.log")
    _run("dovecot", "-c", str(dovecot / "dovecot.conf"), output=root / "start.log")
    _wait_listening(servers.port, "Postfix", servers.log)
    _wait_listening(servers.imap_port, "Dovecot", servers.dovecot_log)
    _wait_listening(servers.imaps_port, "Dovecot (TLS)", servers.dovecot_log)
    return servers


def stop_mail_servers(servers: MailServers) -> None:
    """Stop both servers and remove their folder."""
    for command in (["postfix", "-c", str(servers.root / "conf"), "stop"],
                    ["doveadm", "-c", str(servers.root / "dovecot" / "dovecot.conf"), "stop"]):
        subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(servers.root, ignore_errors=True)


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    """Postfix (SMTP on ``port``) and Dovecot (IMAP) on loopback, shared by the session."""
    reason = why_mail_servers_cannot_run()
    if reason:
        pytest.skip(reason)
    servers = start_mail_servers()
    try:
        yield servers
    finally:
        stop_mail_servers(servers)


@pytest.fixture(scope="session")
def postfix_server(mail_servers: MailServers) -> MailServers:
    """A real Postfix: send to ``host``:``port``; read deliveries with ``messages("inbox")``."""
    return mail_servers
