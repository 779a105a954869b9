"""keep_freed_memory: large blocks come from the heap (no mmap), checked in a fresh process."""

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
