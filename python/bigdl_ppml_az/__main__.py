"""``python -m bigdl_ppml_az`` is ``ppml-az``."""

import sys

from .cli import main

sys.exit(main())
