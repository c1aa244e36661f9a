"""``stack.ports``: a port another process listens on is taken; a log saying EADDRINUSE tells the same."""

from __future__ import annotations

import socket

from hokusai_contracts.stack.ports import lost_its_port, port_taken


def test_a_port_is_taken_while_another_socket_listens_there_and_free_after() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_taken("127.0.0.1", port)
        assert lost_its_port("127.0.0.1", port, "Traceback ... ImportError: no module named x")
    assert not port_taken("127.0.0.1", port)
    # Gone since: the part's log still says why it exited; any other failure is its own.
    assert lost_its_port("127.0.0.1", port, "ERROR: [Errno 98] error while attempting to bind on address "
                                             "('127.0.0.1', 8080): address already in use")
    assert lost_its_port("127.0.0.1", port, "[ERROR] Connection in use: ('127.0.0.1', 5000)")
    assert not lost_its_port("127.0.0.1", port, "ImportError: no module named x")
