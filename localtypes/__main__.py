"""``python -m localtypes``: the same as the ``localtypes`` command."""

import sys

from localtypes.cli import main

if __name__ == "__main__":
    sys.exit(main())
