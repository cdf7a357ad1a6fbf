"""Rubric layer: clinical image and report QC forms from the seed standards, and record scoring.

Never touches pixels. ``forms`` loads the forms as data; ``scoring`` scores records; ``stats`` builds the seed 001
section 5/6 tables; ``cmr`` grades seed 004 cardiac MR measurements.
"""

from phantomqc.rubric.forms import Form, FormItem, ScoringRule, get_form, load_form, load_forms
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
           "validate_record", "rubric_stats"]
