"""Rubric layer: clinical image and report QC forms from the seed standards, and record scoring.

Never touches pixels. ``forms`` loads the forms as data; ``scoring`` scores records; ``stats`` builds the seed 001
section 5/6 tables; ``sampling`` draws random-QC samples and filters exam lists (7.2.1); ``gold`` is the two-reader
gold standard with Cohen's kappa (7.3.1); ``permissions`` the graded QC roles (7.2.2); ``cmr`` grades seed 004
cardiac MR measurements; ``checks`` checks report text (seed 002, 000, 004); ``nm`` computes the seed 000 NM-01..08
indicators; ``api`` is the JSON-in/JSON-out entry point for a reporting workstation.
"""

from phantomqc.rubric.forms import Form, FormItem, ScoringRule, get_form, load_form, load_forms
from phantomqc.rubric.gold import cohen_kappa, gold_standard
from phantomqc.rubric.nm import nm_indicators, read_cases
from phantomqc.rubric.permissions import check_record_permissions, load_permissions, may_score
from phantomqc.rubric.sampling import filter_exams, load_sampling_rules, read_exams, sample_exams
from phantomqc.rubric.scoring import (
    Deduction,
    FormScore,
    QCRecord,
    RecordSet,
    RowError,
    parse_failed_items,
    parse_records,
    read_records,
    score_form,
    validate_record,
)
from phantomqc.rubric.stats import rubric_stats

__all__ = ["Form", "FormItem", "ScoringRule", "get_form", "load_form", "load_forms", "Deduction", "FormScore",
           "QCRecord", "RecordSet", "RowError", "parse_failed_items", "parse_records", "read_records", "score_form",
           "validate_record", "rubric_stats", "sample_exams", "read_exams", "filter_exams", "load_sampling_rules",
           "gold_standard", "cohen_kappa", "load_permissions", "may_score", "check_record_permissions",
           "nm_indicators", "read_cases"]
