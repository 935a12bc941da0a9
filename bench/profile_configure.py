#!/usr/bin/env python3
"""Drive SDPSubarray through Configure/EndSB cycles on a running system, for profiling
(bench/README.md shows how to attach perf to the device server meanwhile).

    TANGO_HOST=127.0.0.1:PORT python bench/profile_configure.py [CYCLES] [DEVICE]

Prints the Configure round-trip p50/p90 (ms) at the end. The workflow version is one the
controller does not know: it marks each PB FAILED instead of starting a vis_receive process
per cycle, so the profile is not drowned in process start-ups (the device still computes
the receive addresses, as for a real vis_receive PB).
"""
import json
import statistics
import sys
import time
import uuid

import tango

cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 300
d = tango.DeviceProxy(sys.argv[2] if len(sys.argv) > 2 else "mid_sdp/elt/subarray_1")
if str(d.adminMode) != "ONLINE" and int(d.adminMode) != 1:
    d.adminMode = "ONLINE"
if str(d.obsState).endswith("READY"):
    d.EndSB()
if str(d.state()) == "OFF":
    d.AssignResources("")
run = uuid.uuid4().hex[:8]
ms = []
for i in range(cycles):
    cfg = {"configure": {"id": f"prof-{run}-{i}", "sbiId": "sbi", "workflow": {"type": "realtime", "id": "vis_receive", "version": "0.0.0-profile"},
                         "parameters": {}, "scanParameters": {"1": {}}}}
    t = time.perf_counter()
    d.Configure(json.dumps(cfg))
    ms.append((time.perf_counter() - t) * 1e3)
    d.EndSB()
ms.sort()
print(f"Configure x{cycles}: p50 {statistics.median(ms):.2f} ms, p90 {ms[int(0.9 * (len(ms) - 1))]:.2f} ms")
