"""A stand-in CSP subarray (PyTango high-level server) for the CBF output link tests: the
string attribute cbfOutLink holds a channel link map, settable with the command SetLinkMap.

    fake_csp.py <instance> -nodb -dlist mid_csp/elt/subarray01 -ORBendPoint giop:tcp:127.0.0.1:PORT
"""
import json
import sys

from tango.server import Device, attribute, command, run


def ch(ids):
    return [{"bw": 53763, "cf": 350000000 + i * 1000, "chanID": i} for i in ids]


# LINK-SIMPLE of the acceptance scenarios (scanID forced to 4)
LINK_SIMPLE = {"scanID": 4, "fsp": [
    {"fspID": 1, "frequencySliceID": 1, "cbfOutLink": [
        {"linkID": 1, "channel": ch([665])},
        {"linkID": 2, "channel": ch([681])},
        {"linkID": 3, "channel": ch([273, 313])},
        {"linkID": 4, "channel": ch([153, 529, 689])}]},
    {"fspID": 2, "frequencySliceID": 20, "cbfOutLink": []}]}


class FakeCspSubarray(Device):
    def init_device(self):
        super().init_device()
        self._link = json.dumps(LINK_SIMPLE)

    @attribute(dtype=str)
    def cbfOutLink(self):
        return self._link

    @command(dtype_in=str)
    def SetLinkMap(self, text):
        self._link = text


if __name__ == "__main__":
    run((FakeCspSubarray,), args=["FakeCspSubarray"] + sys.argv[1:])
