"""Names said in one line of a message: the first few, and how many more."""


def few(names, most: int = 10) -> str:
    names = list(names)
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")
