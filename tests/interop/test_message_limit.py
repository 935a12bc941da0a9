"""The request-size limit `-ORBgiopMaxMsgSize BYTES` (same option as omniORB's), through
the real PyTango client: a request bigger than the limit is refused from its GIOP header
(MessageError, that connection closed) and the client sees a DevFailed; requests under
the limit, on the same proxy afterwards and on other clients' connections, are served."""

import socket
import struct

import pytest
import tango

from conftest import ServerProcess, pytango_differs

LIMIT = 64 * 1024

# omniORB (under the PyTango reference server) applies the option too, but answers differently
pytestmark = pytango_differs


@pytest.fixture
def limited_server():
    srv = ServerProcess(extra_args=("-ORBgiopMaxMsgSize", str(LIMIT))).start()
    yield srv
    srv.stop()


def test_request_over_the_limit_is_refused_others_are_served(limited_server):
    big, small = tango.DeviceProxy(limited_server.dev_url), tango.DeviceProxy(limited_server.dev_url)
    small.set_source(tango.DevSource.DEV)
    assert small.command_inout("Echo", "x" * (LIMIT // 2)) == "x" * (LIMIT // 2)

    with pytest.raises(tango.DevFailed) as e:
        big.command_inout("Echo", "y" * (2 * LIMIT))
    # omniORB reports the closed connection as a CORBA system exception
    assert any(k in str(e.value) for k in ("COMM_FAILURE", "TRANSIENT", "MARSHAL", "CommunicationFailed", "API_CorbaException")), e.value
    # refused for its size (not for anything else), and said so in the server's log
    assert f"exceeds the maximum {LIMIT}" in limited_server.log_text()

    # the other client never noticed; the refused one reconnects and is served under the limit
    assert small.command_inout("Echo", "ok") == "ok"
    assert big.command_inout("Echo", "z" * 1000) == "z" * 1000
    assert limited_server.proc.poll() is None


def test_oversized_header_gets_message_error_and_close(limited_server):
    """A client that announces a body bigger than the limit gets GIOP MessageError and the
    connection closes before the body is read (no buffering of the announced size)."""
    with socket.create_connection(("127.0.0.1", limited_server.port), timeout=10) as s:
        s.sendall(b"GIOP\x01\x02\x01\x00" + struct.pack("<I", 10 * LIMIT))
        header = s.recv(12)
        assert header[:4] == b"GIOP" and header[7] == 6, header  # message type 6 = MessageError
        assert s.recv(1) == b""  # closed
    assert tango.DeviceProxy(limited_server.dev_url).command_inout("Echo", "still here") == "still here"


def test_a_limit_below_1024_bytes_is_refused_at_start():
    srv = ServerProcess(extra_args=("-ORBgiopMaxMsgSize", "100"))
    with pytest.raises(RuntimeError) as e:
        srv.start()
    assert "-ORBgiopMaxMsgSize must be at least 1024 bytes" in str(e.value)
