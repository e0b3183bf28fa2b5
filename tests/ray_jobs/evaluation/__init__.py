"""The evaluation tests: a package, so that conftest.py's package-scoped Ray ends with them (without
this file pytest has no Package node here and "package" scope lasts the whole session)."""
