"""The local stack dressed as a live deployment: HTTPS on loopback, recorded on the server side.

``make contract-live`` talks to real endpoints over TLS, with a CA bundle of its own. To run it in CI
without internet, the tests start the local stack and put an HTTPS front before each of the proxy,
the auth service and MLflow::

    tool ─https─► front(tool->proxy)  ─► proxy ─► journal ─► fake auth / mlflow  (the stack's own hops)
         ─https─► front(tool->auth)   ─► fake auth
         ─https─► front(tool->mlflow) ─► mlflow server

A front is the stack's hop journal served by uvicorn with a certificate from a throw-away CA
(``trustme``), so each front's journal holds exactly what the tool sent to that host, timestamped on
arrival: the ground truth for "stays under the rate limit" and "never deletes what it did not create".
The proxy's own calls to the auth service (validate, usage) go over the stack's plain-HTTP hops and
never pass a front.

Fronts run in threads of the test process, not as subprocesses: they start in milliseconds, need no
port hand-over, and stop with the process whatever happens.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trustme
import uvicorn

from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.journal.listening import loopback_listener
from hokusai_contracts.journal.recording import HopJournal
from hokusai_contracts.stack.definition import JOURNALS, Part, StackDefinition
from hokusai_contracts.stack.processes import ProcessStack, running_stack

__all__ = ["FRONTED_PARTS", "HttpsFront", "LiveDeployment", "live_deployment"]

#: The parts a live run talks to; each gets an HTTPS front.
FRONTED_PARTS = (Part.PROXY, Part.AUTH, Part.MLFLOW)
_HOST = "127.0.0.1"
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


@dataclass
class HttpsFront:
    """A TLS-terminating recording pass-through on a free loopback port, served from a thread."""

    hop: str
    url: str
    journal: Path
    server: uvicorn.Server
    thread: threading.Thread
    listener: socket.socket
    upstream: str = ""
    cert_file: Path | None = None

    @classmethod
    def start(cls, upstream: str, hop: str, journal: Path, cert_file: Path, port: int = 0) -> HttpsFront:
        """``port``: a given one (a front brought back where it was), else a free one."""
        listener = _listener_on(port) if port else loopback_listener(_HOST)
        port = int(listener.getsockname()[1])
        config = uvicorn.Config(
            HopJournal(upstream, hop, journal), ssl_certfile=cert_file, ssl_keyfile=cert_file,
            # log_config=None: uvicorn would otherwise reconfigure logging for the whole test process.
            log_config=None, log_level="warning", access_log=False, lifespan="on",
            # A front taken down must stop at once; a client's idle keep-alive connection must not hold it.
            timeout_graceful_shutdown=1,
            # Transparent: the upstream's own Date and Server headers pass through, not a second pair.
            server_header=False, date_header=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name=f"https-front {hop}",
                                  daemon=True)
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                listener.close()
                raise RuntimeError(f"the HTTPS front {hop!r} (upstream {upstream}) did not start within "
                                   f"{_START_TIMEOUT_S:.0f} s")
            time.sleep(0.01)
        return cls(hop, f"https://{_HOST}:{port}", journal, server, thread, listener, upstream, cert_file)

    def restarted(self) -> HttpsFront:
        """The same front again, on the same port and journal, after ``stop``."""
        assert self.cert_file is not None
        return HttpsFront.start(self.upstream, self.hop, self.journal, self.cert_file,
                                port=int(self.url.rsplit(":", 1)[1]))

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        """Stop serving; afterwards the port refuses connections."""
        self.server.should_exit = True
        self.thread.join(_STOP_TIMEOUT_S)
        self.listener.close()
        if self.thread.is_alive():
            raise RuntimeError(f"the HTTPS front {self.hop!r} did not stop within {_STOP_TIMEOUT_S:.0f} s")

    def entries(self) -> list[HttpExchange]:
        return read_journal(self.journal)


@dataclass
class LiveDeployment:
    """A started stack behind HTTPS fronts: the URLs, CA bundle and keys a live run is given."""

    stack: ProcessStack
    fronts: dict[Part, HttpsFront]
    ca_bundle: Path
    #: Seeded key name (primary, expired, revoked, website, limited) → the full key.
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def proxy_url(self) -> str:
        """The MLflow tracking URI, mount included, as third parties configure it."""
        assert self.stack.endpoints is not None
        mount = self.stack.endpoints.proxy_url.removeprefix(self.stack.endpoints.proxy_root)
        return self.fronts[Part.PROXY].url + mount

    @property
    def auth_url(self) -> str:
        return self.fronts[Part.AUTH].url

    @property
    def mlflow_url(self) -> str:
        return self.fronts[Part.MLFLOW].url

    @property
    def api_key(self) -> str:
        """The key the stack's definition names as the scenario key (``primary`` by default)."""
        return self.keys[self.stack.definition.scenario_key_name]

    def trust(self) -> ssl.SSLContext:
        """A client TLS context trusting the deployment's CA (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca_bundle)

    @property
    def journals(self) -> dict[Part, Path]:
        """Server-side journals: what the client sent to each host, one JSON line per exchange."""
        return {part: front.journal for part, front in self.fronts.items()}

    @property
    def direct_mlflow_url(self) -> str:
        """MLflow over plain HTTP, past its front: for tests asking it questions without being recorded."""
        assert self.stack.endpoints is not None
        return self.stack.endpoints.mlflow_url

    def entries(self) -> list[HttpExchange]:
        """Every recorded exchange on all fronts, in order of arrival."""
        return sorted((e for front in self.fronts.values() for e in front.entries()), key=lambda e: e.started_at)

    def take_down(self, part: Part) -> None:
        """Make ``part`` down as a client sees it: the process killed and its front gone (connection refused).

        The front goes too because a front left running would answer 502 for a dead upstream: a
        gateway's outage page, which is another failure than a host nobody answers on.
        """
        self.stack.kill(part)
        if part in self.fronts:
            self.fronts[part].stop()

    def stop_service(self, part: Part) -> None:
        """Make ``part`` down for every caller so that it can come back as it was (``resume_service``).

        Its front goes (the tool's connections are refused) and so does the stack's hop journal in
        front of it (the proxy's are refused too): from outside, the service is down. The service's
        own process lives on, so that it comes back with its state: a fake auth service started
        again would hand out other keys.
        """
        self.stack.kill(_JOURNAL_OF[part])
        self.fronts[part].stop()

    def resume_service(self, part: Part) -> None:
        """``part`` reachable again, at the same addresses: its hop journal relaunched, its front restarted."""
        journal = _JOURNAL_OF[part]
        assert self.stack.plan is not None
        self.stack.launch(self.stack.plan.parts[journal])
        health = self.stack.parts[journal].health_url
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _answers(health):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {journal} did not come back within {_START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        self.fronts[part] = self.fronts[part].restarted()


#: The stack's hop journal in front of a part: what the proxy calls instead of the part itself.
_JOURNAL_OF = {upstream: journal for journal, (upstream, _) in JOURNALS.items()}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _listener_on(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((_HOST, port))
    return sock


@contextmanager
def live_deployment(workdir: Path, definition: StackDefinition | None = None) -> Iterator[LiveDeployment]:
    """Start the local stack with HTTPS fronts; stop everything on the way out, whatever happens.

    ``workdir`` receives the CA bundle (``ca.pem``), the server certificate and the fronts' journals
    (``<part>-front.jsonl``). ``StackDefinition(service_id="website")`` gives a proxy that validates
    keys for the wrong service, while the seeded keys (``primary`` is a ``platform`` key) stay as they are.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca_bundle = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    cert_file = workdir / "server.pem"
    ca.issue_cert(_HOST, "localhost").private_key_and_cert_chain_pem.write_to_path(str(cert_file))

    with ExitStack() as cleanup:
        stack = cleanup.enter_context(running_stack(definition or StackDefinition()))
        endpoints = stack.endpoints
        assert endpoints is not None
        upstreams = {Part.PROXY: endpoints.proxy_root, Part.AUTH: endpoints.auth_url,
                     Part.MLFLOW: endpoints.mlflow_url}
        fronts: dict[Part, HttpsFront] = {}
        for part in FRONTED_PARTS:
            front = HttpsFront.start(upstreams[part], f"client->{part}", workdir / f"{part}-front.jsonl", cert_file)
            fronts[part] = front
            # Registered one by one, so a front that fails to start still stops the ones before it.
            cleanup.callback(_stop_if_running, front)
        deployment = LiveDeployment(stack=stack, fronts=fronts, ca_bundle=ca_bundle,
                                    keys={name: entry["key"] for name, entry in endpoints.keys.items()})
        # Fronts brought back (``resume_service``) replace their first instance in ``fronts``.
        cleanup.callback(lambda: [_stop_if_running(front) for front in deployment.fronts.values()])
        yield deployment


def _stop_if_running(front: HttpsFront) -> None:
    if front.running:
        front.stop()
