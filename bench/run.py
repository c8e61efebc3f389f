"""The benchmark, from a checkout: the same as `nnbp bench` (see bench/nnbp_bench).

Usage: python bench/run.py [--repeats R] [--json FILE] [--quick] [--workload NAME]

Run as a script, this file's folder (bench/) is the first on sys.path, so
nnbp_bench imports from beside it and nnbp from where it is installed.
"""
import sys

from nnbp_bench import main

if __name__ == "__main__":
    sys.exit(main())
