"""scripts/verify_export.py, the one definition of an export's format and its check, loaded by path.

The script must run anywhere with Python and `cryptography` only, so it cannot import nvr; nvr imports
it instead (the manifest's file names, the fingerprint, the check behind `manage.py verify-export`).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "verify_export.py"


@cache
def verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nvr_verify_export", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
