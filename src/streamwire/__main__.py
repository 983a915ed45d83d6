"""``python -m streamwire``: the same as the ``streamwire`` command."""

import sys

from streamwire.cli import main

sys.exit(main())
