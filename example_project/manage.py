#!/usr/bin/env python
"""Command-line entry point of the example shop: ``python example_project/manage.py <command>``."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The example imports django_multipay from this checkout and its own apps from this folder,
# whatever the current directory is.
for folder in (HERE.parent, HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
