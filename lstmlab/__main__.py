"""``python -m lstmlab``: the command line (see lstmlab.cli)."""
import sys

from lstmlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
