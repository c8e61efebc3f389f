"""Large allocations that fail with a clear MemoryError, not an out-of-memory kill.

Linux overcommits memory: np.empty of more than the machine can give usually
succeeds, and the process is killed later, when it writes the pages. So the
parameter-sized buffers and the workspaces are checked against the memory
the system reports as available before they are allocated.
"""
import numpy as np

# Smaller requests are not checked: they cannot matter to the machine, and
# reading /proc/meminfo (tens of microseconds) would cost more than them.
CHECKED_FROM_BYTES = 16 * 2**20


def available_bytes():
    """The memory the system can still give (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _size(n_bytes):
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def check_available(n_bytes, what):
    """Raise MemoryError naming what if n_bytes is more than the system has available."""
    if n_bytes < CHECKED_FROM_BYTES:
        return
    available = available_bytes()
    if available is not None and n_bytes > available:
        raise MemoryError(f"{what} needs {_size(n_bytes)} of memory, but only "
                          f"{_size(available)} is available")


def allocate(size, dtype, what, *, zeroed=False, extra_bytes=0):
    """np.empty (or np.zeros) of size entries; a MemoryError naming what if it can't be had.

    extra_bytes: temporary memory needed beside it at the same time.
    """
    n_bytes = int(size) * np.dtype(dtype).itemsize
    check_available(n_bytes + extra_bytes, what)
    try:
        return np.zeros(size, dtype) if zeroed else np.empty(size, dtype)
    except MemoryError:
        raise MemoryError(f"{what} needs {_size(n_bytes)} of memory, which the system "
                          "could not allocate") from None
