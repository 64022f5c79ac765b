"""Value normalisers: pure functions of one value, plus a vectorised applier for whole columns."""
