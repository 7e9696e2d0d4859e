"""Fast paths, kept apart from the source declarations and tested against them (same rows either way).

- :mod:`collectors.fastpath.bulk_backfill`: a first run far above the Bulk threshold, through
  time-sliced Bulk API 2.0 jobs, three stages at once, with the GC tuned for it;
- :mod:`collectors.fastpath.csv_converters`: Bulk CSV cells straight to the store's tuples.

The runner plugs the backfill into each run's context; the sources never import this package.
"""
