"""A province-sized rule book from the example: the Quảng Bình rule set copied many times.

Used where the engine must be exercised at the scale of thousands of sensors (the live
tick benchmark, the paged state tests). Each copy's rules and sensors are prefixed
`c<copy>_`, so copy 2's `le_thuy_level` reads `c2_le_thuy.level`.
"""

from pathlib import Path
from typing import Any

import yaml

from rules.rulebook import RuleBook

EXAMPLE = Path(__file__).resolve().parents[1] / "rules" / "examples" / "quang_binh.yaml"


def example_rules() -> list[dict[str, Any]]:
    """The example's rules as plain dicts (to edit before validating)."""
    rules: list[dict[str, Any]] = yaml.safe_load(EXAMPLE.read_text())["rules"]
    return rules


def copies_of_example(copies: int) -> RuleBook:
    rules = example_rules()  # parsed once: YAML takes milliseconds, 2,500 copies would take seconds
    out = []
    for copy in range(copies):
        for rule in rules:
            clone = dict(rule, name=f"c{copy}_{rule['name']}")
            for key in ("sensor", "base"):
                if key in clone:
                    clone[key] = f"c{copy}_{clone[key]}"
            if "when" in clone:
                clone["when"] = [dict(c, rule=f"c{copy}_{c['rule']}") for c in clone["when"]]
            out.append(clone)
    return RuleBook.model_validate({"rules": out})
