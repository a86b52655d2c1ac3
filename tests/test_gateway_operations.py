"""The operation tables of docs/gateways/index.md: PortOne's is its OpenAPI, each place exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml
from django.utils.module_loading import import_string

from django_multipay.gateways import builtin_backends

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "docs" / "gateways"
SPECS = Path(__file__).resolve().parent / "gateways" / "specs"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
BACKENDS = {cls.__name__: f"{cls.__module__}.{cls.__name__}" for cls in builtin_backends().values()}
OPERATION = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) ([^`\s]+)")


def operation_tables() -> dict[str, list[tuple[str, str, str]]]:
    """Rows (method, path, "implemented in" cell) of the table under "## Documented
    operations" on each built-in backend's page, by the backend's module name."""
    tables: dict[str, list[tuple[str, str, str]]] = {}
    for name in builtin_backends():
        text = (PAGES / f"{name}.md").read_text()
        if "\n## Documented operations\n" not in text:
            continue
        section = text.split("\n## Documented operations\n", 1)[1].split("\n## ", 1)[0]
        tables[name] = []
        for line in section.splitlines():
            if line.startswith("|"):
                cells = [cell.strip() for cell in line.strip("|").split("|")]
                found = OPERATION.search(cells[0])
                if found:
                    tables[name].append((found[1], found[2], cells[-1]))
    return tables


def openapi_operations() -> set[tuple[str, str]]:
    operations = set()
    for spec in sorted(SPECS.glob("portone-*-openapi.yaml")):
        document = yaml.safe_load(spec.read_text())
        for path, item in document["paths"].items():
            operations |= {(method.upper(), path) for method in item if method in HTTP_METHODS}
    return operations


def test_every_gateway_has_a_table():
    """Each backend of a real gateway (not the test-only dummy) lists its vendor's operations."""
    real = {name for name, cls in builtin_backends().items() if not cls.test_only}
    assert set(operation_tables()) == real
    assert len(real) >= 5
    for name, rows in operation_tables().items():
        assert rows, name


def test_the_portone_table_is_its_openapi_documents():
    rows = operation_tables()["portone"]
    # Its API's own paths; the notifications PortOne sends us are listed too, by their URL.
    listed = [(method, path) for method, path, _where in rows if path.startswith("/api/")]
    assert len(listed) == len(set(listed)), "an operation is listed twice"
    documented = openapi_operations()
    assert len(documented) == 22
    assert set(listed) == documented


def test_every_place_a_table_names_exists():
    named = 0
    for heading, rows in operation_tables().items():
        for method, path, where in rows:
            if where.lower().startswith("not implemented"):
                assert ":" in where, f"{heading} {method} {path}: say why it is not"
                continue
            # The places: a backend's method (Class.method) or a management command; other
            # code in the cell (an option's name) is explanation.
            places = [
                place
                for place in re.findall(r"`([^`]+)`", where)
                if re.fullmatch(r"\w+Gateway\.\w+", place) or place.startswith("multipay_")
            ]
            assert places, f"{heading} {method} {path}: no place named in {where!r}"
            for place in places:
                named += 1
                if place.startswith("multipay_"):
                    command = place.split()[0]
                    importlib.import_module(f"django_multipay.management.commands.{command}")
                    continue
                cls_name, _, attribute = place.partition(".")
                assert cls_name in BACKENDS, f"{heading} {method} {path}: unknown {place!r}"
                backend = import_string(BACKENDS[cls_name])
                assert callable(getattr(backend, attribute, None)), f"no {place}"
    assert named > 30
