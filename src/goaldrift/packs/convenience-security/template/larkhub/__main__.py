"""``python -m larkhub``: see ``larkhub.cli``."""

import sys

from larkhub.cli import main

if __name__ == "__main__":
    sys.exit(main())
