"""Select options for WTForms (3.3 deprecates plain tuples)."""
from wtforms.fields.choices import SelectChoice


def options(pairs, blank=None) -> list[SelectChoice]:
    """``pairs``: a mapping or (value, label) pairs; ``blank``: label of an empty first option."""
    items = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
    head = [SelectChoice("", blank)] if blank is not None else []
    return head + [SelectChoice(value, label) for value, label in items]


class MarkRequired:
    """Marks a field required on the page (the * and the required attribute) where no validator of its
    own says so: a choice that always has a value, or a field a cross-field rule in the form's
    validate() requires. It checks nothing itself."""
    field_flags = {"required": True}

    def __call__(self, form, field):
        return None
