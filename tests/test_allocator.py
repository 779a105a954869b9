"""keep_freed_memory: large blocks come from the heap (no mmap); release_freed_memory: the heap's
free pages go back to the OS. Each checked in a fresh process."""

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
import numpy as np
from mmgraph.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    assert keep_freed_memory()
block = np.ones(64 * 2 ** 20, np.uint8)  # 64 MB, past glibc's largest mmap threshold
print(libc.mallinfo2().hblkhd >= block.nbytes)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("mode, mapped", [("default", "True"), ("keep", "False")])
def test_large_blocks_come_from_the_heap_once_asked(mode, mapped):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == mapped


RELEASE_PROBE = """
import sys
import numpy as np
from mmgraph.allocator import keep_freed_memory, release_freed_memory

def rss_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

assert keep_freed_memory()
blocks = [np.ones(2 ** 20, np.uint8) for _ in range(256)]  # 256 MiB on the heap
pinned = np.ones(1024, np.uint8)  # above them: the heap's top cannot simply shrink
before = rss_mib()
del blocks
if sys.argv[1] == "release":
    assert release_freed_memory()
print(round(before - rss_mib()))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
@pytest.mark.parametrize("mode, returned", [("keep", False), ("release", True)])
def test_freed_heap_pages_go_back_to_the_system_once_asked(mode, returned):
    """A served run swapped out frees its arrays into a heap that the CLI's allocator setting
    never trims: RSS stays until :func:`release_freed_memory` hands the free pages back."""
    out = subprocess.run([sys.executable, "-c", RELEASE_PROBE, mode], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert (int(out) >= 200) == returned, f"RSS fell by {out} MiB"


SHARED_HEAP_PROBE = """
import ctypes, sys, threading
import numpy as np
import pyarrow as pa
from mmgraph.allocator import keep_freed_memory, share_one_heap

assert keep_freed_memory()
if sys.argv[1] == "share":
    assert share_one_heap()
libc = ctypes.CDLL("libc.so.6")
libc.malloc_stats()  # each arena's bytes, on stderr
sys.stderr.write("THEN\\n")
sys.stderr.flush()
# A thread like the one that loads a swapped-in run: its blocks, and a Parquet-sized table.
worker = threading.Thread(target=lambda: [np.ones(2 ** 16, np.uint8) for _ in range(64)])
worker.start()
worker.join()
table = pa.table({"ids": np.arange(2 ** 20)})
libc.malloc_stats()
print(pa.default_memory_pool().backend_name)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("mode, new_arenas, pool", [("default", 1, "mimalloc"),
                                                    ("share", 0, "system")])
def test_every_thread_and_pyarrow_share_one_heap_once_asked(mode, new_arenas, pool):
    """A server's threads each get a glibc heap of their own, and pyarrow a mimalloc one:
    pages freed there are out of :func:`release_freed_memory`'s reach until
    :func:`share_one_heap`."""
    done = subprocess.run([sys.executable, "-c", SHARED_HEAP_PROBE, mode], capture_output=True,
                          text=True, check=True)
    before, after = done.stderr.split("THEN\n")
    assert after.count("Arena ") - before.count("Arena ") == new_arenas, done.stderr
    assert done.stdout.strip() == pool
