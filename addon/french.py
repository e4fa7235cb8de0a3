"""Small rules of French grammar for the texts the add-on builds around names."""

# Letters before which "de" elides to "d'": the vowels, accented or not, "y" and the mute "h".
ELIDING_INITIALS = frozenset("aàâäeéèêëiîïoôöuùûüyÿhœæ")


def de(name):
    """Return `name` after the preposition "de", elided before a vowel or h: "d'Alice", "de Bruno".

    The h is taken as mute, as in most first names ("d'Hugo"); the few names with an aspirated h
    ("de Hugues") come out elided.
    """
    name = str(name or "").strip()
    if name and name[0].casefold() in ELIDING_INITIALS:
        return f"d'{name}"
    return f"de {name}"
