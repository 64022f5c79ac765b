"""Realistic synthetic raw data for the CRM warehouse: surveys, reply cards and sales exports.

``generate(data_dir, config)`` writes ``<data_dir>/landing/<source>/`` the way real exports
arrive (encodings, header languages, date and number formats, typing variation, defects) and the
ground truth to ``<data_dir>/answer_key/``. See ``docs/sample_data.md``.
"""

from crm.sample_data.config import NO_DEFECTS, DefectRates, GenerationConfig
from crm.sample_data.generator import GenerationSummary, LandingNotEmptyError, append_sales, generate

__all__ = [
    "NO_DEFECTS",
    "DefectRates",
    "GenerationConfig",
    "GenerationSummary",
    "LandingNotEmptyError",
    "append_sales",
    "generate",
]
