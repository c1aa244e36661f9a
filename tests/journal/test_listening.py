"""The threaded servers' listening socket keeps Nagle's algorithm off (40 ms per request otherwise)."""

from __future__ import annotations

import socket

from hokusai_contracts.journal.listening import loopback_listener


def test_the_listener_is_tcp_with_nodelay_on_a_free_loopback_port() -> None:
    with loopback_listener() as sock:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only on sockets that say TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0


def test_an_accepted_connection_inherits_nodelay() -> None:
    with loopback_listener() as sock:
        sock.listen(1)
        with socket.create_connection(sock.getsockname()), sock.accept()[0] as accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
