"""Events a device pushes from its own background work, while no client request to it is in
progress: our runtime's `DeviceHandle` (TestDevice's `CountInBackground` thread) and PyTango's
`push_change_event` from a thread (the reference) must reach a subscriber alike, in order.
Before the handle, our runtime published pushes only when a request ended, so these events
waited for the next client call."""

import threading

import tango

EV = tango.EventType


class Values:
    """Change-event callback keeping the values in arrival order."""

    def __init__(self):
        self.values = []
        self.errors = []
        self.changed = threading.Condition()

    def __call__(self, ev):
        with self.changed:
            if ev.err:
                self.errors.append([e.reason for e in ev.errors])
            else:
                self.values.append(ev.attr_value.value)
            self.changed.notify_all()

    def wait_for_count(self, n, patience=30.0):
        """Wait until `n` values arrived (or patience runs out); return what arrived."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.values) >= n or self.errors, timeout=patience)
            return list(self.values)


def test_events_a_background_thread_pushes_reach_the_subscriber_in_order(dev):
    cb = Values()
    eid = dev.subscribe_event("backgroundCount", EV.CHANGE_EVENT, cb)
    try:
        # the value read at subscription comes first
        assert cb.wait_for_count(1) == [0]
        dev.command_inout("CountInBackground", 5)
        # no further request: every event below comes from the device's own thread
        assert cb.wait_for_count(6) == [0, 1, 2, 3, 4, 5]
        assert cb.errors == []
        assert dev.read_attribute("backgroundCount").value == 5
    finally:
        dev.unsubscribe_event(eid)
