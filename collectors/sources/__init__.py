"""One module per source, each a declaration on one of the bases for the shapes that exist.

:mod:`collectors.sources.registry` lists them in run order (``SOURCES``); the bases are in
:mod:`collectors.sources.base`, :mod:`~collectors.sources.incremental`,
:mod:`~collectors.sources.snapshot` and :mod:`~collectors.sources.parent_child`. This package
imports nothing itself, so importing one source never imports them all.
"""
