"""Validation against the official OASIS CAP 1.2 schema (schemas/cap12.xsd, see ATTRIBUTION.md)."""

from functools import cache
from pathlib import Path

from lxml import etree

CAP_XSD = Path(__file__).with_name("schemas") / "cap12.xsd"


class CapInvalid(ValueError):
    """An alert the schema refuses, with the schema's first complaints (line: message)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:3]))
        self.errors = errors


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(CAP_XSD)))


def validate_cap(xml: bytes) -> None:
    """Raise CapInvalid unless `xml` is a CAP 1.2 alert the schema accepts."""
    schema = _schema()
    document = etree.fromstring(xml)
    if not schema.validate(document):
        raise CapInvalid([f"line {e.line}: {e.message}" for e in schema.error_log])
