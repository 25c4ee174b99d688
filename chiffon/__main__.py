"""`python -m chiffon`: the same as the `chiffon` command (an entry-point shim)."""

import sys

from adapters.cli.main import main

sys.exit(main())
