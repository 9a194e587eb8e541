"""`python -m openscale_lab` is the `openscale-lab` command."""
import sys

from .cli import main

sys.exit(main())
