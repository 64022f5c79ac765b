"""Generate realistic synthetic CRM exports (see docs/sample_data.md).

python scripts/generate_sample_data.py --data-dir data [--sales-lines N] [--seed 42] [--force]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dags"))

from crm.sample_data.cli import main

if __name__ == "__main__":
    sys.exit(main())
