"""`python -m edge.bench ...` is `gesture-bench ...`."""

import sys

from edge.bench.cli import main

sys.exit(main())
