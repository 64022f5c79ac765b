"""The splink model: which columns are compared, how, which pairs are scored, and the priors.

Only records that carry a name take part (a sales reference typed as a phone, e-mail or member id
has nothing else to compare and is linked by the deterministic key edges alone).

Evidence design, with the pitfalls of Chinese names in mind:

- ``name_norm`` (Traditional folded to Simplified, lower-case, no spaces) is compared with
  term-frequency adjustment, so agreeing on 王伟 counts for much less than agreeing on a rare name.
- No blocking rule pairs records on the name alone, except that a sales reference typed as a name
  is scored against records of the same name (it has nothing else). Even term-frequency adjusted,
  a name alone stays far below the match threshold against the prior, so these pairs do not link
  (see docs/identity_resolution.md for the measured cost of linking them). Every other candidate
  pair must agree on the name and on a second attribute (birth date, address, company), or on
  birth date and address when the name differs.
- ``birth_date`` is term-frequency adjusted too: placeholder dates (1900-01-01, a clipped age)
  pile up on one day, and agreeing on such a day is weak evidence.
- Phone and e-mail are compared too: agreement is already a deterministic link, but disagreement
  is evidence against a match that EM can weigh.
"""

from __future__ import annotations

import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

#: Columns handed to splink (besides the unique id).
MATCH_COLUMNS: tuple[str, ...] = (
    "name_norm",
    "birth_date",
    "address_norm",
    "company_norm",
    "phone_e164",
    "email",
    "sales_ref_type",
)

UNIQUE_ID_COLUMN = "record_key"

#: Prior probability that two random records are the same person, used until it is estimated.
PRIOR_PROBABILITY_TWO_RANDOM_RECORDS_MATCH = 1e-4


def comparisons() -> list[ComparisonCreator]:
    """Comparisons with prior m probabilities (EM refines them when it has enough pairs).

    m lists are ordered like the comparison levels, null level excluded, ELSE last.
    """
    return [
        cl.JaroWinklerAtThresholds("name_norm", [0.92]).configure(
            term_frequency_adjustments=True, m_probabilities=[0.90, 0.06, 0.04]
        ),
        cl.DateOfBirthComparison(
            "birth_date", input_is_string=False, datetime_thresholds=[1], datetime_metrics=["year"]
        ).configure(term_frequency_adjustments=True, m_probabilities=[0.90, 0.05, 0.02, 0.03]),
        cl.JaroWinklerAtThresholds("address_norm", [0.95, 0.85]).configure(
            m_probabilities=[0.75, 0.12, 0.05, 0.08]
        ),
        cl.JaroWinklerAtThresholds("company_norm", [0.92]).configure(m_probabilities=[0.80, 0.08, 0.12]),
        cl.ExactMatch("phone_e164").configure(m_probabilities=[0.70, 0.30]),
        cl.ExactMatch("email").configure(m_probabilities=[0.75, 0.25]),
    ]


def prediction_blocking_rules() -> list[BlockingRuleCreator | str]:
    """Candidate pairs to score. Each needs two agreeing attributes, except name-only sales refs."""
    return [
        block_on("name_norm", "birth_date"),
        block_on("name_norm", "address_norm"),
        block_on("name_norm", "company_norm"),
        block_on("birth_date", "address_norm"),
        # A sales reference typed as a name has nothing else to agree on.
        "l.name_norm = r.name_norm and (l.sales_ref_type = 'name' or r.sales_ref_type = 'name')",
    ]


def training_blocking_rules() -> list[BlockingRuleCreator]:
    """EM passes: pairs sharing a deterministic key train name/date/address/company, and vice versa."""
    return [
        block_on("phone_e164"),
        block_on("email"),
        block_on("name_norm", "birth_date"),
    ]


def deterministic_rules() -> list[BlockingRuleCreator]:
    """Near-certain matches, used to estimate the prior probability that two records match."""
    return [block_on("phone_e164"), block_on("email"), block_on("name_norm", "birth_date", "address_norm")]


def settings() -> SettingsCreator:
    """The splink settings for a dedupe over all named contact records."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID_COLUMN,
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=prediction_blocking_rules(),
        probability_two_random_records_match=PRIOR_PROBABILITY_TWO_RANDOM_RECORDS_MATCH,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=True,  # mw_* kept for audit
        em_convergence=1e-4,
        max_iterations=25,
    )
