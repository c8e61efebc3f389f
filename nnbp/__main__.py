import sys

from nnbp.cli import main

sys.exit(main())
