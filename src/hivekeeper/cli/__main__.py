"""``python -m hivekeeper.cli``."""

import sys

from hivekeeper.cli import main

sys.exit(main())
