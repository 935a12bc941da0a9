"""16 subarrays driven at once the way TMC's SDP subarray leaf node drives them (LeafNode:
obsState change events, the expected sequence per command or a failure after 30 s): the
full observing sequence, Abort while SCANNING and while RESOURCING, Restart from ABORTED and
from FAULT. Real PyTango, real etcd, the real controller, process deployer and workflows."""

import threading

import pytest
import tango

from adr8_support import (ABORTED, ABORTING, CONFIGURE, CONFIGURING, EMPTY, FAULT, IDLE, READY, RESOURCING, RESTARTING,
                          SCANNING, Stack, assign_arg, drive_at_once, new_ids, scan_arg)

N = 16


@pytest.fixture(scope="module")
def stack():
    s = Stack(subarrays=N)
    yield s
    s.close()


def in_parallel(stack, work):
    """Run work(n, leaf_node) for subarrays 1..N at once; fail with the first failure."""
    errors = drive_at_once([(n, stack.proxy(n)) for n in range(1, N + 1)], work)
    # a subarray that failed breaks the barriers of the others: report its own failure
    errors.sort(key=lambda ne: isinstance(ne[1], threading.BrokenBarrierError))
    if errors:
        n, e = errors[0]
        raise AssertionError(f"subarray {n:02d} (and {len(errors) - 1} more): {e}") from e


def test_full_sequence_on_16_subarrays(stack):
    def work(n, tmc):
        tmc.run("On", None, [])
        eb_id, pb = new_ids(f"s{n}")
        tmc.run("AssignResources", assign_arg(eb_id, pb), [RESOURCING, IDLE])
        tmc.run("Configure", CONFIGURE, [CONFIGURING, READY])
        tmc.run("Scan", scan_arg(n), [SCANNING])
        tmc.run("EndScan", None, [READY])
        tmc.run("End", None, [IDLE])
        tmc.run("ReleaseAllResources", None, [EMPTY])
        tmc.run("Off", None, [])
        assert tmc.d.state() == tango.DevState.OFF
        assert stack.eb_state(eb_id)["scans"] == [{"scan_id": n, "scan_type": "science", "status": "FINISHED"}]
        assert tmc.all == [EMPTY, RESOURCING, IDLE, CONFIGURING, READY, SCANNING, READY, IDLE, EMPTY]

    in_parallel(stack, work)


def test_abort_while_scanning_and_restart_from_aborted_on_16(stack):
    def work(n, tmc):
        tmc.run("On", None, [])
        eb_id, pb = new_ids(f"a{n}")
        tmc.run("AssignResources", assign_arg(eb_id, pb, receive=False), [RESOURCING, IDLE])
        tmc.run("Configure", CONFIGURE, [CONFIGURING, READY])
        tmc.run("Scan", scan_arg(100 + n), [SCANNING])
        tmc.run("Abort", None, [ABORTING, ABORTED])
        tmc.run("Restart", None, [RESTARTING, EMPTY])
        assert stack.eb_state(eb_id)["status"] == "CANCELLED"
        tmc.run("Off", None, [])

    in_parallel(stack, work)


def test_restart_from_fault_on_16(stack):
    def work(n, tmc):
        tmc.run("On", None, [])
        eb_id, pb = new_ids(f"f{n}")
        # the receive PB names a script version nobody has: it fails, the subarray goes to FAULT
        tmc.run("AssignResources", assign_arg(eb_id, pb, receive_version="9.9.9"), [RESOURCING, FAULT])
        tmc.run("Restart", None, [RESTARTING, EMPTY])
        tmc.run("Off", None, [])

    in_parallel(stack, work)


def test_abort_while_resourcing_on_16(stack):
    """The processing controller is slow (paused while alive): every subarray waits in
    RESOURCING for its receive addresses; TMC aborts and restarts them all."""
    resourcing = threading.Barrier(N + 1, timeout=60)
    aborted = threading.Barrier(N + 1, timeout=60)

    def work(n, tmc):
        try:
            tmc.run("On", None, [])
            resourcing.wait()  # the controller is paused now
            eb_id, pb = new_ids(f"r{n}")
            tmc.run("AssignResources", assign_arg(eb_id, pb), [RESOURCING])
            assert tmc.d.obsState == RESOURCING
            tmc.run("Abort", None, [ABORTING, ABORTED])
            aborted.wait()
        except BaseException:
            # nobody waits for a subarray that failed: the failure is reported instead
            resourcing.abort()
            aborted.abort()
            raise
        tmc.run("Restart", None, [RESTARTING, EMPTY])
        tmc.run("Off", None, [])

    failure = []

    def drive():
        try:
            in_parallel(stack, work)
        except BaseException as e:  # noqa: BLE001
            failure.append(e)

    stack.controller.pause()
    done = threading.Thread(target=drive)
    try:
        done.start()
        resourcing.wait()
        aborted.wait()
    except threading.BrokenBarrierError:
        pass  # a subarray failed: its failure is below
    finally:
        stack.controller.resume()
    done.join(120)
    assert not failure, failure[0]
    for n in range(1, N + 1):
        assert stack.proxy(n).obsState == EMPTY
