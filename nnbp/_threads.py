"""How many threads a compiled call takes, and BLAS on one thread while a team runs.

nnbp's parallelism is its own (nnbp._core, "teams of threads"): OpenMP
threads split each layer's units and call single-threaded BLAS. A call asks
for scikit-learn's count (its ``_openmp_effective_n_threads``): OpenMP's for
the calling thread, which ``OMP_NUM_THREADS`` and
``threadpoolctl.threadpool_limits(n, user_api="openmp")`` set, at most the
CPUs the process may use (its affinity and its cgroup's CPU quota), at most
64. Then:

- the process's CPUs are a budget that concurrent calls share: a call takes
  what the others running leave, at least one thread, so that two networks
  trained in two Python threads do not oversubscribe the cores;
- while a team of more than one thread runs, BLAS runs on one thread (the
  members call it at once: a threaded BLAS would put its threads on the
  same cores, and OpenBLAS's threaded gemm serialises concurrent callers).
  The limit is process-wide (threadpoolctl's controllers of the BLAS
  libraries loaded), so it is counted: the first call to need it sets it,
  the last to finish restores BLAS's own count;
- the CPUs are only a budget while they are free: other processes may hold
  them (``free_cpus``). A team's members meet several times a batch, and a
  member that waits for a core another process holds stalls them all, as
  BLAS's own threads stall a threaded product: on a 2-core machine kept busy
  by two other processes, a small network's fit that formed teams and let
  BLAS thread ran 9 times slower than on one thread. So a call takes only
  the CPUs that were free lately, and where not even two are, it runs BLAS
  on one thread as well. ``OMP_NUM_THREADS``, where set, is the user's
  decision, and is followed whatever the load.
"""
import contextlib
import math
import os
import threading
import time

from nnbp import _core


def available_cpus():
    """The CPUs this process may run on: its affinity, less what a cgroup's quota allows."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as handle:        # cgroup v2: "quota period"
            quota, period = handle.read().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


CPUS = available_cpus()
_lock = threading.Lock()
_in_use = 0                     # threads that running calls hold
_blas_holders = 0               # running teams that need BLAS on one thread
_blas_saved = None              # [(BLAS library, its threads)] while they run
_blas_controllers = None


# A call splits its work across threads only if its layers have at least
# this many flops on average (of their matrix products, per batch): the
# threads meet at least once a layer, and below it the meetings cost more
# than the split saves (nnbp bench's scaling table). The tests set it to 0,
# through NNBP_PARALLEL_FLOPS, to run the teams on small networks.
PARALLEL_FLOPS = float(os.environ.get("NNBP_PARALLEL_FLOPS", 2e6))

# Nor if it has more rows than this: there BLAS's own threads, which share
# the operands they pack, are as fast as a team or faster, whose members
# each pack all of X (an epoch of 784-256-128-10 in nnbp bench's scaling
# table: a team 1.16-1.27x faster at batch 32, 0.99-1.04x at 256, 0.86-0.99x
# on all 8192 rows). The tests set it to inf (NNBP_PARALLEL_ROWS).
PARALLEL_ROWS = float(os.environ.get("NNBP_PARALLEL_ROWS", 256))


# libgomp's threads do not survive fork(): a child that started a parallel
# region would hang (GCC bug 60035). A forked child runs on one thread.
_forked = False


def _after_fork_in_child():
    global _forked, _in_use, _blas_holders, _meter
    _forked = True
    _in_use = _blas_holders = 0
    _meter = None           # its window began in the parent, with the parent's CPU time


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _LoadMeter:
    """How many of this process's CPUs were free for it lately, from /proc/stat.

    Over a window of at least WINDOW seconds, a CPU's share is its idle time
    (the kernel's count of the CPUs this process may run on) plus the time
    this process's own threads ran: what a team could have had. The kernel
    counts in ticks (10 ms): a shorter window would be mostly rounding. The
    first estimate, before a window has passed, counts the tasks running now
    (/proc/loadavg). Where neither file exists (not Linux), every CPU counts
    as free, as before nnbp knew of load.
    """

    WINDOW = 0.1

    def __init__(self):
        self._cpus = _allowed_cpus()
        self._tick = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
        self._free = None
        self._lock = threading.Lock()
        self._last = self._sample()

    def _sample(self):
        """(wall time, idle seconds of the allowed CPUs, this process's CPU seconds), or None."""
        try:
            with open("/proc/stat", "rb") as handle:
                lines = handle.read().splitlines()
        except OSError:
            return None
        idle = 0
        for line in lines:
            if line[:3] != b"cpu" or not line[3:4].isdigit():
                continue
            fields = line.split()
            if self._cpus is None or int(fields[0][3:]) in self._cpus:
                idle += int(fields[4]) + int(fields[5])         # idle, and waiting for I/O
        return time.monotonic(), idle * self._tick, time.process_time()

    def free(self):
        """The CPUs free for this process lately, at most CPUS (a float)."""
        if self._last is None:
            return float(CPUS)
        with self._lock:
            if time.monotonic() - self._last[0] >= self.WINDOW:
                sample = self._sample()
                wall, idle, own = (new - old for new, old in zip(sample, self._last))
                self._free, self._last = (idle + own) / wall, sample
            elif self._free is None:
                self._free = _running_elsewhere_free()
            return min(float(CPUS), self._free)


def _allowed_cpus():
    """The numbers of the CPUs this process may run on (None: all)."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except AttributeError:
        return None


def _running_elsewhere_free():
    """CPUS less the tasks running now other than this one (/proc/loadavg's 4th field)."""
    try:
        with open("/proc/loadavg", "rb") as handle:
            running = int(handle.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return float(CPUS)
    return float(max(1, CPUS - (running - 1)))


_meter = None


def free_cpus():
    """The CPUs free for this process lately, as a float: the machine's load as
    nnbp's thread decision sees it (see _LoadMeter)."""
    global _meter
    if _meter is None:
        _meter = _LoadMeter()
    return _meter.free()


# A call takes k threads if at least k - FREE_MARGIN CPUs were free: the
# kernel's 10 ms ticks make a window's count uncertain by about this much.
FREE_MARGIN = 0.3


def wanted_threads():
    """The threads a call asks for: OpenMP's count for this thread, at most 64, and at
    most the CPUs unless OMP_NUM_THREADS asks for more (as scikit-learn's count does)."""
    if not _core.openmp_enabled() or _forked:
        return 1
    wanted = _core.max_threads()
    if not os.environ.get("OMP_NUM_THREADS"):
        wanted = min(wanted, CPUS)
    return max(1, min(wanted, _core.MAX_THREADS))


def splits(flops_per_layer, rows):
    """Whether a compiled call of `rows` rows asks for a team (of wanted_threads())."""
    return flops_per_layer >= PARALLEL_FLOPS and rows <= PARALLEL_ROWS


@contextlib.contextmanager
def team(flops_per_layer, rows):
    """The number of threads a compiled call may use, held until it returns.

    A call that does not split (`splits`) takes one thread. It leaves BLAS
    as it is if the machine has a CPU free besides, and otherwise holds BLAS
    on one thread too.
    """
    global _in_use
    wanted = wanted_threads() if splits(flops_per_layer, rows) else 1
    budget = _budget()
    with _lock:
        spare = budget - _in_use
        granted = max(1, min(wanted, int(spare + FREE_MARGIN)))
        _in_use += granted
    try:
        if granted == 1 and spare + FREE_MARGIN >= 2:
            yield 1
        else:
            with _blas_on_one_thread():
                yield granted
    finally:
        with _lock:
            _in_use -= granted


def _budget():
    """The threads that nnbp's calls may share now: what OMP_NUM_THREADS asks for
    where it is set, else the CPUs free lately (free_cpus)."""
    if os.environ.get("OMP_NUM_THREADS"):
        return float(max(CPUS, wanted_threads()))
    return free_cpus()


@contextlib.contextmanager
def blas_held_for(flops_per_layer, rows):
    """BLAS on one thread for a run of calls that form teams, or on a busy machine.

    Each team sets BLAS to one thread and gives it back its threads when it
    returns. Between the calls of a run (L-BFGS's), whatever calls BLAS then
    wakes its threads, which spin on the cores the next team needs: an L-BFGS
    fit of a small network was 5 times slower so. Where not even two CPUs are
    free (as `team` judges), the same holds without teams: scipy's L-BFGS-B
    steps call BLAS on short vectors, and with BLAS's two threads contending
    with two other processes for two cores, a small network's L-BFGS fit ran
    5 to 10 times slower than with one.
    """
    busy = _budget() + FREE_MARGIN < 2
    if (splits(flops_per_layer, rows) and wanted_threads() > 1) or busy:
        with _blas_on_one_thread():
            yield
    else:
        yield


@contextlib.contextmanager
def _blas_on_one_thread():
    global _blas_holders, _blas_saved
    with _lock:
        if _blas_holders == 0:
            _blas_saved = [(library, library.num_threads) for library in _blas_libraries()]
            for library, _ in _blas_saved:
                library.set_num_threads(1)
        _blas_holders += 1
    try:
        yield
    finally:
        with _lock:
            _blas_holders -= 1
            if _blas_holders == 0:
                for library, threads in _blas_saved:
                    library.set_num_threads(threads)


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded, found once."""
    global _blas_controllers
    if _blas_controllers is None:
        # Found on first use, not at import: it is slow, and at import it has
        # deadlocked scikit-learn (its issue #29145).
        from threadpoolctl import ThreadpoolController
        _blas_controllers = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_controllers
