"""Whether a process still holds a TCP connection, seen from the kernel's table (no reading, no writing).

A client that stopped reading cannot tell, from its own socket, that the server let the connection
go: the server's close is queued behind the bytes the client never read. The kernel's table can: a
socket a process holds has an inode; one its process closed (an orphan the kernel still tries to
flush, state FIN_WAIT1) has none.
"""

from __future__ import annotations

from pathlib import Path


def held(local_port: int, remote_port: int) -> bool:
    """Whether a process holds the IPv4 connection from `local_port` to `remote_port` (on this machine)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), fields[9]
        if (local, remote) == (local_port, remote_port):
            return inode != "0"
    return False
