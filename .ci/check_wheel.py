"""Build the wheel and check it carries what a working install needs."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REQUIRED = (
    "django_multipay/py.typed",
    "django_multipay/migrations/0001_initial.py",
    "django_multipay/templates/django_multipay/pay.html",
    "django_multipay/templates/django_multipay/redirect_form.html",
    "django_multipay/sandbox/templates/django_multipay/sandbox/dummy_pay.html",
)


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, "."], check=True
        )
        wheel = next(Path(out).glob("django_multipay-*.whl"))
        names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in REQUIRED if name not in names]
    # The licence travels with every install (pyproject's license-files).
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        missing.append("*.dist-info/licenses/LICENSE")
    unwanted = sorted(n for n in names if n.startswith(("tests/", "example_project/")))
    for name in missing:
        print(f"missing from the wheel: {name}")
    for name in unwanted:
        print(f"should not be in the wheel: {name}")
    print(f"{wheel.name}: {len(names)} files")
    return 1 if missing or unwanted else 0


if __name__ == "__main__":
    raise SystemExit(main())
