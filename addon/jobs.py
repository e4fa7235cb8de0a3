"""Shared shutdown of the add-on's background schedulers when the interpreter exits."""

import atexit
import threading
import weakref


def stop_at_exit(scheduler):
    """Shut `scheduler` down when the interpreter exits, before Python closes its thread pools.

    Python closes the pools of concurrent.futures in threading's exit hooks, which run before the
    atexit functions. A scheduler still ticking at that point logs "cannot schedule new futures
    after shutdown" for every job, so the scheduler is stopped in an exit hook of the same kind,
    which runs first because it is registered later. The hook keeps only a weak reference to the scheduler.
    """
    reference = weakref.ref(scheduler)

    def stop():
        running = reference()
        if running is not None and running.running:
            running.shutdown(wait=False)

    register = getattr(threading, "_register_atexit", None)
    try:
        (register or atexit.register)(stop)
    except RuntimeError:  # the interpreter is already shutting down
        pass
