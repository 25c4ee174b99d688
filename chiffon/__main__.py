"""`python -m chiffon`: the same as the `chiffon` command (an entry-point shim)."""

import sys

from composition_root import main

sys.exit(main())
