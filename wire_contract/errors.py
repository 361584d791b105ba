"""The one error a decoder of the contract raises, and how a validation error reads in it."""

from pydantic import ValidationError


class ContractError(ValueError):
    """A payload that does not follow the contract, with the reason why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validation_reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        path = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"invalid {path}: {item['msg']}")
    return "; ".join(parts)
