"""The store's tables by subject; :mod:`oauthwatch.store.schema` gathers them into one namespace."""
