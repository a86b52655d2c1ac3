"""Translation catalogues: ``update`` rebuilds them from the code, ``check`` proves them whole.

``check`` works on a copy of the package, so the tree is left as it is: it runs makemessages
there, refuses any catalogue with an untranslated or fuzzy message (``msgfmt --statistics``),
then compiles each committed ``.po`` and refuses a ``.mo`` that differs from the committed
one (the wheel ships the ``.mo`` files as they are in the tree).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_multipay"
LANGUAGES = ("bn", "ar", "es", "pt")
# The gateways' emulators and the test helpers speak English only (docs/translations.md).
IGNORED = ("sandbox/*", "testing/*", "management/*", "migrations/*")
STATISTICS = re.compile(
    r"(?P<translated>\d+) translated messages?"
    r"(?:, (?P<fuzzy>\d+) fuzzy translations?)?"
    r"(?:, (?P<untranslated>\d+) untranslated messages?)?"
)


def makemessages(package: Path) -> None:
    command = [sys.executable, "-m", "django", "makemessages", "--no-wrap", "--add-location=file"]
    command += [f"--locale={language}" for language in LANGUAGES]
    command += [f"--ignore={pattern}" for pattern in IGNORED]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    subprocess.run(command, cwd=package, env=env, check=True)


def po_file(package: Path, language: str) -> Path:
    return package / "locale" / language / "LC_MESSAGES" / "django.po"


def statistics(po: Path) -> dict[str, int]:
    """msgfmt's own count of translated, fuzzy and untranslated messages (it also checks
    that placeholders and plural forms agree with the English, ``--check``)."""
    done = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", os.devnull, str(po)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{po}: does not compile:\n{done.stderr}")
    match = STATISTICS.search(done.stderr)
    if not match:
        raise SystemExit(f"{po}: no statistics from msgfmt: {done.stderr!r}")
    return {key: int(value or 0) for key, value in match.groupdict().items()}


LANGUAGE_NAMES = {"bn": "Bangla", "ar": "Arabic", "es": "Spanish", "pt": "Portuguese (Portugal)"}


def settle_header(po: Path, language: str) -> None:
    """Fill in the header makemessages leaves as a template. A header marked fuzzy is left
    out of the ``.mo``, and with it the language's plural rule (Arabic has six forms)."""
    text = po.read_text(encoding="utf-8")
    start = text.index('msgid ""')
    head, sep, rest = text[start:].partition("\n\n")
    created = re.search(r"POT-Creation-Date: ([^\\]*)", head)
    template_values = {
        "Project-Id-Version": ("PACKAGE VERSION", "django-multipay"),
        "PO-Revision-Date": ("YEAR-MO-DA HO:MI+ZONE", created.group(1) if created else ""),
        "Last-Translator": ("FULL NAME <EMAIL@ADDRESS>", "django-multipay contributors"),
        "Language-Team": ("LANGUAGE <LL@li.org>", LANGUAGE_NAMES[language]),
        "Language": ("", language),
    }
    for name, (placeholder, value) in template_values.items():
        head = head.replace(f'"{name}: {placeholder}\\n"', f'"{name}: {value}\\n"')
    title = f"# {LANGUAGE_NAMES[language]} messages of django-multipay.\n"
    po.write_text(title + head + sep + rest, encoding="utf-8")


def compile_po(po: Path, mo: Path) -> None:
    subprocess.run(["msgfmt", "--check", "-o", str(mo), str(po)], check=True)


def update() -> None:
    makemessages(PACKAGE)
    for language in LANGUAGES:
        po = po_file(PACKAGE, language)
        settle_header(po, language)
        compile_po(po, po.with_suffix(".mo"))
        print(language, statistics(po))


def check() -> int:
    failures = []
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "django_multipay"
        shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        makemessages(copy)
        for language in LANGUAGES:
            po = po_file(copy, language)
            counts = statistics(po)
            print(
                f"{language}: {counts['translated']} translated, {counts['fuzzy']} fuzzy, "
                f"{counts['untranslated']} untranslated"
            )
            if counts["fuzzy"] or counts["untranslated"]:
                failures.append(
                    f"{language}: {counts['fuzzy']} fuzzy and "
                    f"{counts['untranslated']} untranslated messages"
                )
        for language in LANGUAGES:
            committed = po_file(PACKAGE, language)
            built = Path(scratch) / f"{language}.mo"
            compile_po(committed, built)
            shipped = committed.with_suffix(".mo")
            if not shipped.exists() or shipped.read_bytes() != built.read_bytes():
                failures.append(
                    f"{language}: {shipped.relative_to(ROOT)} is not compiled "
                    "from its django.po (run `make messages`)"
                )
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    if failures:
        print(
            "Run `make messages`, translate what it adds, and commit the catalogues.",
            file=sys.stderr,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["update"]:
        update()
    elif sys.argv[1:] == ["check"]:
        raise SystemExit(check())
    else:
        raise SystemExit("usage: messages.py update|check")
