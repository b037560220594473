"""Imported by the step forkserver only, as the last of ``execution.PRELOAD_MODULES``.

The forkserver imports its preload list before it forks the first step. Dagster, the definitions and
the storage code are needed by every step; torch and Whisper only by the model steps, which start
after the listing step. So the forkserver imports torch and Whisper right after it has forked its
first step, while that step (the listing) runs on the other core: the listing does not wait for
them, and the model steps, forked later, still find torch imported. A step forked before the
import finishes (only the first one) imports what it needs itself.

Everything imported is then frozen for the garbage collector (``gc.freeze``): a step process never
scans those hundreds of thousands of objects again in its full collections, and does not copy the
pages that hold them.
"""

import gc
import os

MODEL_MODULES = ("torch", "whisper")
_forkserver_pid = os.getpid()
_imported = False


def _import_model_modules() -> None:
    """Runs in the forkserver after each fork (the hook is inherited by every child, which skips it)."""
    global _imported
    if _imported or os.getpid() != _forkserver_pid:
        return
    _imported = True
    for name in MODEL_MODULES:
        __import__(name)
    gc.freeze()


gc.freeze()  # what the preload list imported before this module
os.register_at_fork(after_in_parent=_import_model_modules)
