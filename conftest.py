"""Test-wide settings: the calibration cache of compare.calibration goes to a throw-away folder, never the
user's cache (doctests in the packages and notebook kernels inherit it through the environment)."""

import os
import tempfile

os.environ.setdefault("FWDREV_CACHE_DIR", tempfile.mkdtemp(prefix="fwdrev-cache-"))
