"""NHS numbers: ten digits, the last a modulus 11 check digit (NHS Digital's published
algorithm). Stored as the ten digits alone; shown as "123 456 7890"; accepted with or without
spaces (people copy them from letters that print them spaced)."""

from __future__ import annotations

# Weights 10 down to 2 for the first nine digits (NHS Data Dictionary, "NHS Number").
_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def normalise(value: str) -> str:
    """The digits as typed, without spaces (not yet checked)."""
    return "".join(value.split())


def problem(value: str) -> str | None:
    """Why `value` (spaces removed) is not a valid NHS number, or None when it is."""
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        return "Enter an NHS number of 10 digits, like 943 476 5919."
    total = sum(int(digit) * weight for digit, weight in zip(value[:9], _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != int(value[9]):
        # A remainder giving 10 is never issued: such a number is always invalid.
        return "This is not a valid NHS number: check the digits (the last one does not match)."
    return None


def formatted(value: str) -> str:
    """ "9434765919" -> "943 476 5919"; anything else unchanged."""
    if len(value) != 10:
        return value
    return f"{value[:3]} {value[3:6]} {value[6:]}"
