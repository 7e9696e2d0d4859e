"""Run a test's child process on the test session's clock (see tests/shared_clock.py).

Python imports ``sitecustomize`` at start-up from the first ``sys.path`` entry that has one; the
test session puts this folder first on ``PYTHONPATH`` and the clock's offset in
``OW_TEST_CLOCK_OFFSET``. Without the variable, or in a Python without ``time_machine``, this does
nothing.
"""

import os

_offset = os.environ.get("OW_TEST_CLOCK_OFFSET")
if _offset:
    try:
        import time_machine
    except ImportError:  # another interpreter (a tool the tests run): its clock is not the suite's
        time_machine = None
    if time_machine is not None:
        import time

        time_machine.travel(time.time() + float(_offset), tick=True).start()
