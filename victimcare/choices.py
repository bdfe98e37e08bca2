"""Select options for WTForms (3.3 deprecates plain tuples)."""
from wtforms.fields.choices import SelectChoice


def options(pairs, blank=None) -> list[SelectChoice]:
    """``pairs``: a mapping or (value, label) pairs; ``blank``: label of an empty first option."""
    items = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
    head = [SelectChoice("", blank)] if blank is not None else []
    return head + [SelectChoice(value, label) for value, label in items]
