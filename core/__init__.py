"""The core room: what every other room uses and that uses nothing else of libtrad.

* :mod:`.errors` — the :class:`~libtrad.core.errors.LibtradError` family every user-facing error derives from;
* :mod:`.options` — numeric options and option specs, checked the same way by the library and the CLI;
* :mod:`.console` — ``note:`` lines on stderr;
* :mod:`.devices` — the one device policy (``--device``, precision, provenance);
* :mod:`.channels` — channel policies (which channels of a corpus ``embed`` uses) and ``--channels``;
* :mod:`.cli_kit` — the click machinery every command group uses (one ``error:`` line per mistake);
* :mod:`.resolve` — the one reader of ``"module:attr"`` registrations;
* :mod:`.version` — the package's version.

Nothing here imports another libtrad room (``tests/test_architecture.py`` checks it), so any room may
import it without a cycle.
"""
