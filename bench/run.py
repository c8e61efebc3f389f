"""The benchmark, from a checkout: the same as `nnbp bench` (see nnbp/benchmark).

Usage: python bench/run.py [--repeats R] [--json FILE] [--quick] [--workload NAME]
"""
import sys

from nnbp.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
