"""`python -m calspike` runs the calspike command."""

import sys

from calspike.cli import main

sys.exit(main())
