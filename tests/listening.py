"""Which addresses a process tree listens on, read from /proc (Linux only).

Used by the "loopback by default" tests: every TCP socket in LISTEN state and every bound
UDP socket that belongs to one of the given processes (or their descendants), with its local
address. /proc/<pid>/fd maps the process to socket inodes; /proc/net/{tcp,tcp6,udp,udp6}
maps inodes to addresses.
"""

import os
import socket
import struct
from pathlib import Path

TCP_LISTEN = "0A"


def descendants(*roots):
    """The pids given and every process below them."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses
        pid = int(text.split(" ", 1)[0])
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(children.get(p, []))
    return seen


def _socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _address(hex_addr, family):
    ip, port = hex_addr.split(":")
    raw = bytes.fromhex(ip)
    if family == socket.AF_INET:
        raw = struct.pack("<I", struct.unpack(">I", raw)[0])
    else:  # four host-order 32-bit words
        raw = b"".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0]) for i in range(0, 16, 4))
    return socket.inet_ntop(family, raw), int(port, 16)


def bound_sockets(pids):
    """[(proto, address, port, pid, command)] of the TCP listeners and bound UDP sockets of `pids`."""
    owner = {}
    for pid in pids:
        for inode in _socket_inodes(pid):
            owner[inode] = pid
    out = []
    for proto, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6), ("udp", socket.AF_INET), ("udp6", socket.AF_INET6)):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            if inode not in owner or (proto.startswith("tcp") and state != TCP_LISTEN):
                continue
            addr, port = _address(local, family)
            pid = owner[inode]
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                cmd = "?"
            out.append((proto, addr, port, pid, cmd))
    return out


LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def not_loopback(pids):
    """The sockets of `pids` that are reachable from other machines."""
    return [s for s in bound_sockets(pids) if s[1] not in LOOPBACK]
