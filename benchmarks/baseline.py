"""What the hand-written baselines share: DjangoJSONEncoder's rules, written
by hand (a baseline must not call djust's code)."""


def iso_datetime(value) -> str:
    """``DjangoJSONEncoder``'s datetime text: milliseconds, ``Z`` for UTC.

        >>> import datetime
        >>> iso_datetime(datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC))
        '2026-01-02T03:04:05.678Z'
    """
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text
