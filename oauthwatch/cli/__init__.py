"""The ``oauthwatch`` command, one module per verb group.

- ``main``: the Typer app, its callback and the list of verb modules, in the order ``--help``
  shows them; ``main()`` is the console script.
- ``context``: what every verb shares, put on Typer's context once (settings, store, logging).
- ``options``: the options every verb spells the same way (``--config``, ``--org``, ``--format``,
  ``--verbose``, ``--by``).
- ``output``: listings as a table, JSON or CSV.
- one module per verb group (``collect``, ``connect``, ``detect``, ``alerts``, ``allow``,
  ``digest``, ``service``, ``db``, ``config``, ``dashboard``, ``demo``, ``simulate``, and the
  analyst verbs ``grants``, ``hunt``, ``intel``, ``incident``, ``revoke``): a module-level
  ``app = typer.Typer()`` whose top-level functions are the verbs.

A new verb is a function decorated with ``@app.command("name")`` in the module of its group; a
new group is a new module here added to ``main.VERB_MODULES``. Verb modules import only typer and
this package at the top: everything heavy (pandas, SQLAlchemy, simple-salesforce, streamlit) is
imported inside the verb, so ``oauthwatch --help`` stays fast. This package is the only one that
imports ``oauthwatch.cli``; the product modules never do.
"""
