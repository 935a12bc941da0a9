"""The subarray when etcd goes away and comes back: commands fail clearly and change nothing,
then work again without restarting the device server; the PB-state watch reconnects."""

import json
import time

import pytest
import tango

from conftest import cfg_seed, wait_for


def test_etcd_down_and_back(fresh_etcd, server_factory):
    srv = server_factory(env=fresh_etcd.env)
    d = srv.proxy()
    d.AssignResources("")
    fresh_etcd.stop()

    t = time.monotonic()
    with pytest.raises(tango.DevFailed) as info:
        d.Configure(cfg_seed("pb-down"))
    assert time.monotonic() - t < 3.0
    assert info.value.args[0].reason == "SDP_ConfigDbUnavailable"
    assert d.obsState == 0 and d.state() == tango.DevState.ON
    # commands that need no DB still work (their state is stored once etcd is back)
    d.ReleaseResources("")
    assert d.state() == tango.DevState.OFF

    fresh_etcd.restart()
    assert wait_for(lambda: json.loads(fresh_etcd.raw("/subarray/01") or "{}").get("state") == "OFF", timeout=15)
    d.Configure(cfg_seed("pb-back"))
    assert d.obsState == 2
    assert json.loads(fresh_etcd.raw("/pb/pb-back"))["pb_id"] == "pb-back"
    fresh_etcd.sdpcfg("create", "/pb/pb-back/state", '{"state": "executing"}')
    assert wait_for(lambda: "executing" in d.processingBlockState)

    # the watch survives another outage
    fresh_etcd.restart()
    fresh_etcd.sdpcfg("update", "/pb/pb-back/state", '{"state": "finished"}')
    assert wait_for(lambda: "finished" in d.processingBlockState, timeout=20), d.processingBlockState


def test_two_subarrays_race_for_one_pb_id(fresh_etcd, server_factory):
    """Two subarrays of one server configure the same PB id at once: the etcd transaction lets
    exactly one win; the other fails with SDP_ProcessingBlockExists and stays IDLE."""
    import threading
    devices = ("mid_sdp/elt/subarray_1", "mid_sdp/elt/subarray_2")
    srv = server_factory(env=fresh_etcd.env, devices=devices)
    proxies = [srv.proxy(n) for n in devices]
    results = {}

    def go(i):
        try:
            proxies[i].Configure(cfg_seed("pb-race"))
            results[i] = "ok"
        except tango.DevFailed as e:
            results[i] = e.args[0].reason

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results.values()) == ["SDP_ProcessingBlockExists", "ok"], results
    winner = [i for i, r in results.items() if r == "ok"][0]
    loser = 1 - winner
    assert proxies[winner].obsState == 2 and proxies[loser].obsState == 0
    assert proxies[loser].state() == tango.DevState.OFF
    stored = {n: json.loads(fresh_etcd.raw(f"/subarray/0{n}")) for n in (1, 2)}
    assert stored[winner + 1]["pb_id"] == "pb-race" and stored[winner + 1]["obs_state"] == "READY"
    assert stored[loser + 1]["pb_id"] is None and stored[loser + 1]["obs_state"] == "IDLE"
