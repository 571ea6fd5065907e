"""``python -m compare``: write the forward-vs-reverse plots, CSV and summary.md (see ``compare.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
