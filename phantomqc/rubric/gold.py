"""The gold standard of image evaluation (seed 001 7.3.1) and inter-reader agreement (Cohen's kappa).

Seed 001 7.3.1 (影像图像评价金标准): "由两名高级职称的放射科医师分别对图像进行评价，若两人意见达成一致则取两人评价结果，
如有意见分歧，由第三名高级职称的放射科医师进行评价，并取得最终结果。" Two senior radiologists score the same exam
independently; when they agree their result stands; when they disagree, a third senior radiologist scores it and
that score is final. Until the third reader has scored, the exam is *pending*.

A reading is one exam scored on one form (:mod:`phantomqc.rubric.forms`) by two readers, with columns
``exam_id, form, reader_1, score_1, reader_2, score_2`` and, after arbitration, ``arbiter, score_3``. Scores are on
the form's scale: 1..5 on the seed 001 score forms (评分类), 合格/不合格 on the application form (``pass``/``fail``
are accepted and written as 合格/不合格), the sheet's points on the 30- and 100-point sheets.

Agreement is Cohen's kappa between the first and the second reader's scores; the arbiter does not enter it.
Pure functions; no I/O.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from phantomqc._shared.errors import InputError
from phantomqc.rubric.forms import Form, load_forms
from phantomqc.rubric.scoring import FAIL_TEXT, PASS_TEXT, _text

__all__ = ["GOLD_SCHEMA", "PASS_FAIL", "Z_95", "cohen_kappa", "kappa_table", "gold_standard"]

GOLD_SCHEMA = "phantomqc.rubric_gold/1"
PASS_FAIL = (PASS_TEXT, FAIL_TEXT)
Z_95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
_PASS_ALIASES = {"合格": PASS_TEXT, "pass": PASS_TEXT, "passed": PASS_TEXT, "不合格": FAIL_TEXT, "fail": FAIL_TEXT,
                 "failed": FAIL_TEXT}
_WEIGHTS = (None, "linear", "quadratic")
UNDEFINED_NOTE = ("kappa is undefined: the chance agreement p_e is 1 (both readers used one and the same category "
                  "for every exam), so (p_o - p_e)/(1 - p_e) is 0/0")


# ------------------------------------------------------------------------------------------------ kappa


def _categories(a: Sequence, b: Sequence, categories: Sequence | None) -> list:
    if categories is None:
        labels = set(a) | set(b)
        try:
            return sorted(labels)
        except TypeError:
            raise InputError(f"labels {sorted(map(repr, labels))} cannot be ordered; pass categories= in the "
                             f"order of the scale") from None
    cats = list(categories)
    if not cats:
        raise InputError("categories is empty; give the scale's categories in order, or None to use the labels")
    if len(set(cats)) != len(cats):
        raise InputError(f"categories {cats} repeat a value")
    unknown = sorted({repr(x) for x in list(a) + list(b) if x not in set(cats)})
    if unknown:
        raise InputError(f"labels {unknown} are not in categories {cats}; add them or correct the ratings")
    return cats


def kappa_table(a: Sequence, b: Sequence, *, categories: Sequence | None = None) -> tuple[list, np.ndarray]:
    """The k x k contingency table of two raters' labels: ``table[i, j]`` = items rated ``categories[i]`` by the
    first rater and ``categories[j]`` by the second. Returns ``(categories, table)``.

    Raises
    ------
    InputError
        The sequences differ in length or are empty, or a label is not in ``categories``.
    """
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise InputError(f"the two raters have {len(a)} and {len(b)} ratings; give one pair per item")
    if not a:
        raise InputError("no ratings; kappa needs at least one rated item")
    cats = _categories(a, b, categories)
    index = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)), dtype=np.int64)
    for x, y in zip(a, b):
        table[index[x], index[y]] += 1
    return cats, table


def _agreement_weights(k: int, weights: str | None) -> np.ndarray:
    if weights not in _WEIGHTS:
        raise InputError(f"weights={weights!r}; expected None (unweighted), 'linear' or 'quadratic'")
    i, j = np.indices((k, k))
    if weights is None or k == 1:
        return (i == j).astype(float)
    d = np.abs(i - j) / (k - 1)
    return 1.0 - d if weights == "linear" else 1.0 - d ** 2


def _kappa_parts(table: np.ndarray, weights: str | None) -> tuple[float | None, float, float]:
    """(kappa or None, p_o, p_e) of a contingency table, with agreement weights."""
    w = _agreement_weights(table.shape[0], weights)
    p = table / table.sum()
    row, col = p.sum(axis=1), p.sum(axis=0)
    p_o = float((w * p).sum())
    p_e = float((w * np.outer(row, col)).sum())
    if 1.0 - p_e <= 1e-12:
        return None, p_o, p_e
    return (p_o - p_e) / (1.0 - p_e), p_o, p_e


def _kappa_se(table: np.ndarray, kappa: float, p_e: float) -> float:
    """Large-sample standard error of unweighted kappa (Fleiss, Cohen & Everitt 1969), not assuming kappa = 0."""
    n = table.sum()
    p = table / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    diag = np.diag(p)
    a = float((diag * (1.0 - (row + col) * (1.0 - kappa)) ** 2).sum())
    off = p.copy()
    np.fill_diagonal(off, 0.0)
    # cell (i, j) off the diagonal carries (p_.i + p_j.)^2: column marginal of i plus row marginal of j
    b = (1.0 - kappa) ** 2 * float((off * (col[:, None] + row[None, :]) ** 2).sum())
    c = (kappa - p_e * (1.0 - kappa)) ** 2
    var = (a + b - c) / (n * (1.0 - p_e) ** 2)
    return math.sqrt(max(var, 0.0))


def cohen_kappa(a: Sequence, b: Sequence, *, categories: Sequence | None = None,
                weights: str | None = None) -> float | None:
    """Cohen's kappa between two raters' labels of the same items, unweighted or weighted.

    Parameters
    ----------
    a, b : sequence
        The first and the second rater's label for each item, in the same item order.
    categories : sequence, optional
        The scale's categories in order (e.g. ``[1, 2, 3, 4, 5]``). Default: the sorted labels seen. Weighted
        kappa depends on it: the distance between two categories is the difference of their positions in this
        list, so give the whole scale when some categories were not used.
    weights : {None, 'linear', 'quadratic'}
        None: unweighted kappa (Cohen 1960). ``'linear'`` / ``'quadratic'``: weighted kappa (Cohen 1968) with
        agreement weights ``w_ij = 1 - |i-j|/(k-1)`` or ``1 - (i-j)^2/(k-1)^2``.

    Returns
    -------
    float or None
        kappa; None when it is undefined because the chance agreement p_e is 1 (both raters put every item in
        the same single category: 0/0).

    Raises
    ------
    InputError
        Unequal lengths, no items, a label not in ``categories``, unknown ``weights``.

    Notes
    -----
    With ``p_ij`` the share of items rated category i by the first rater and j by the second, ``p_i.`` and
    ``p_.j`` the marginal shares: ``p_o = sum_ij w_ij p_ij``, ``p_e = sum_ij w_ij p_i. p_.j`` and
    ``kappa = (p_o - p_e) / (1 - p_e)`` (``w_ij`` = 1 on the diagonal, 0 off it, for unweighted kappa).
    The linear/quadratic weighted kappas equal scikit-learn's ``cohen_kappa_score(..., labels=categories,
    weights=...)``, which uses the equivalent disagreement weights.

    References
    ----------
    Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas 1960; 20: 37-46.
    Cohen J. Weighted kappa. Psychol Bull 1968; 70: 213-220.

    Examples
    --------
    >>> round(cohen_kappa([1, 1, 2, 2], [1, 2, 2, 2]), 3)
    0.5
    >>> cohen_kappa(["合格"] * 3, ["合格"] * 3) is None
    True
    """
    _, table = kappa_table(a, b, categories=categories)
    return _kappa_parts(table, weights)[0]


def _agreement(pairs: list[tuple[Any, Any]], categories: Sequence, tolerance: float, numeric: bool) -> dict:
    """The agreement block for readings on one scale."""
    n = len(pairs)
    out: dict[str, Any] = {"n": n, "categories": list(categories), "observed_percent": None,
                           "expected_percent": None, "kappa": None, "kappa_se": None, "kappa_ci95": None,
                           "weighted_kappa_linear": None, "weighted_kappa_quadratic": None,
                           "within_tolerance_percent": None, "note": None}
    if n == 0:
        out["note"] = "no valid readings"
        return out
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    _, table = kappa_table(a, b, categories=categories)
    kappa, p_o, p_e = _kappa_parts(table, None)
    out["observed_percent"] = 100.0 * p_o
    out["expected_percent"] = 100.0 * p_e
    within = sum(1 for x, y in pairs if (abs(x - y) <= tolerance if numeric else x == y))
    out["within_tolerance_percent"] = 100.0 * within / n
    if kappa is None:
        out["note"] = UNDEFINED_NOTE
        return out
    se = _kappa_se(table, kappa, p_e)
    out.update(kappa=kappa, kappa_se=se, kappa_ci95=[kappa - Z_95 * se, kappa + Z_95 * se],
               weighted_kappa_linear=_kappa_parts(table, "linear")[0],
               weighted_kappa_quadratic=_kappa_parts(table, "quadratic")[0])
    if n < 30:
        out["note"] = (f"only {n} exams: the large-sample standard error and interval of kappa are rough "
                       f"below about 30")
    return out


# ------------------------------------------------------------------------------------------------ gold standard


def _scale(form: Form) -> tuple[str, tuple]:
    """('pass_fail', (合格, 不合格)) or ('score', (lo, ..., hi)) for a form."""
    if form.rule.kind == "any_item_fails":
        return "pass_fail", PASS_FAIL
    return "score", tuple(range(form.min_score, form.max_score + 1))


def _score(raw: Any, key: str, form: Form, kind: str) -> Any:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InputError(f"'{key}' is empty")
    if kind == "pass_fail":
        if isinstance(raw, bool):
            return PASS_TEXT if raw else FAIL_TEXT
        value = _PASS_ALIASES.get(str(raw).strip().lower())
        if value is None:
            raise InputError(f"{key} '{raw}' on form '{form.id}' must be {PASS_TEXT}/{FAIL_TEXT} (or pass/fail)")
        return value
    if isinstance(raw, bool):
        raise InputError(f"{key} {raw!r} is not a whole number")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        try:
            f = float(text)
        except ValueError:
            raise InputError(f"{key} '{text}' is not a whole number") from None
        if not f.is_integer():
            raise InputError(f"{key} '{text}' is not a whole number")
        value = int(f)
    lo, hi = form.min_score, form.max_score
    if not lo <= value <= hi:
        raise InputError(f"{key} {value} is out of range for form '{form.id}' ({lo}..{hi})")
    return value


def _reading(row: Any, n: int, forms: Mapping[str, Form], tolerance: float) -> dict:
    if not isinstance(row, Mapping):
        raise InputError(f"row {n}: expected an object with exam_id, form, reader_1, score_1, reader_2, score_2, "
                         f"got {type(row).__name__}")
    try:
        for key in ("exam_id", "form", "reader_1", "reader_2"):
            if not _text(row, key):
                raise InputError(f"'{key}' is empty; a gold-standard reading needs exam_id, form, reader_1, "
                                 f"score_1, reader_2, score_2")
        form_id = _text(row, "form")
        if form_id not in forms:
            raise InputError(f"unknown form '{form_id}'; expected one of {sorted(forms)}")
        form = forms[form_id]
        kind, _ = _scale(form)
        r1, r2, arbiter = _text(row, "reader_1"), _text(row, "reader_2"), _text(row, "arbiter")
        if r1 == r2:
            raise InputError(f"reader_1 and reader_2 are both '{r1}'; the seed asks for two different readers")
        s1 = _score(row.get("score_1"), "score_1", form, kind)
        s2 = _score(row.get("score_2"), "score_2", form, kind)
        raw3 = row.get("score_3")
        has3 = not (raw3 is None or (isinstance(raw3, str) and not raw3.strip()))
        if arbiter and arbiter in (r1, r2):
            raise InputError(f"arbiter '{arbiter}' is one of the two readers; the seed asks for a third reader")
        if has3 and not arbiter:
            raise InputError("score_3 is given without the arbiter's name; fill in 'arbiter'")
        s3 = _score(raw3, "score_3", form, kind) if has3 else None
    except InputError as exc:
        raise InputError(f"row {n}: {exc.cause}") from None
    agreed = abs(s1 - s2) <= tolerance if kind == "score" else s1 == s2
    warning = None
    if agreed:
        final, status = (min(s1, s2) if kind == "score" else s1), "agreed"
        if has3:
            warning = (f"row {n}: exam '{_text(row, 'exam_id')}' form '{form_id}': the readers agree, so the "
                       f"arbiter's score_3 {s3} is not used")
    elif has3:
        final, status = s3, "arbitrated"
    else:
        final, status = None, "pending"
    return {"row": n, "exam_id": _text(row, "exam_id"), "form": form_id, "reader_1": r1, "score_1": s1,
            "reader_2": r2, "score_2": s2, "agreed": agreed, "arbiter": arbiter or None, "score_3": s3,
            "final_score": final, "status": status, "_warning": warning}


def gold_standard(readings: Iterable[Mapping[str, Any]], *, tolerance: float = 0) -> dict:
    """Final scores by the two-reader gold standard with arbitration (seed 001 7.3.1), and reader agreement.

    Parameters
    ----------
    readings : iterable of mappings
        One per exam and form: ``exam_id``, ``form``, ``reader_1``, ``score_1``, ``reader_2``, ``score_2``,
        optionally ``arbiter`` and ``score_3`` (the third reader's score). Bad rows go to ``errors`` and the others
        are still used. Rows are numbered from 1.
    tolerance : float
        On numeric scales, two scores agree when ``|score_1 - score_2| <= tolerance``. Default 0: only the same
        score agrees (the seed's "意见达成一致"). Pass/fail scores agree only when equal.

    Returns
    -------
    dict
        ``schema`` (``phantomqc.rubric_gold/1``), ``tolerance``, ``exams`` ``[{row, exam_id, form, reader_1,
        score_1, reader_2, score_2, agreed, arbiter, score_3, final_score, status}]`` with status ``"agreed"`` |
        ``"arbitrated"`` | ``"pending"``, ``counts`` ``{agreed, arbitrated, pending}``, ``pending`` (exam ids),
        ``agreement`` ``{n, categories, observed_percent, expected_percent, kappa, kappa_se, kappa_ci95,
        weighted_kappa_linear, weighted_kappa_quadratic, within_tolerance_percent, scale, note}`` over all exams when
        they share one scale (else its numbers are None and ``note`` says so), ``agreement_by_form`` (the same block
        per form, with ``form``), ``errors`` ``[{row, exam_id, message}]``, ``warnings``.

    Raises
    ------
    InputError
        ``readings`` is None, or ``tolerance`` is negative or not a number.

    Notes
    -----
    * Final score: agreed -> the readers' score (with ``tolerance`` > 0 and two different scores, the lower one:
      a gold standard should not be more lenient than either senior reader; this choice is ours, the seed does not
      cover near-agreement); disagreed and ``score_3`` given -> ``score_3``; disagreed without ``score_3`` ->
      ``final_score`` None, status ``pending``. A ``score_3`` given although the readers agree is not used (warning).
    * The arbiter must differ from both readers, and the two readers from each other. The seed's requirement of
      senior titles (高级职称) is not checked here: the readings carry names, not titles.
    * Kappa compares ``score_1`` with ``score_2`` over every valid exam (agreed, arbitrated and pending), with the
      form's whole scale as categories (1..5 on the score forms), so weighted kappa distances are score
      differences. ``observed_percent`` = 100 p_o is exact agreement; ``within_tolerance_percent`` uses
      ``tolerance``.
    * Standard error (Fleiss, Cohen & Everitt 1969, large sample, not assuming kappa = 0)::

          var = [ sum_i p_ii (1 - (p_i. + p_.i)(1 - k))^2 + (1 - k)^2 sum_{i!=j} p_ij (p_.i + p_j.)^2
                  - (k - p_e (1 - k))^2 ] / (n (1 - p_e)^2)

      and ``kappa_ci95 = kappa -/+ 1.96 se`` (Wald interval, not clipped to [-1, 1]).
    * kappa is None when p_e = 1 (both readers used one same category throughout); ``note`` says so.

    References
    ----------
    Seed 001 (regional remote-imaging-centre QC standard), 7.3.1.
    Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted kappa. Psychol Bull 1969;
    72: 323-327.

    Examples
    --------
    >>> doc = gold_standard([
    ...     {"exam_id": "E1", "form": "image_quality", "reader_1": "R1", "score_1": 5, "reader_2": "R2", "score_2": 5},
    ...     {"exam_id": "E2", "form": "image_quality", "reader_1": "R1", "score_1": 4, "reader_2": "R2", "score_2": 3,
    ...      "arbiter": "R3", "score_3": 3},
    ...     {"exam_id": "E3", "form": "image_quality", "reader_1": "R1", "score_1": 2, "reader_2": "R2", "score_2": 4}])
    >>> [(e["exam_id"], e["status"], e["final_score"]) for e in doc["exams"]]
    [('E1', 'agreed', 5), ('E2', 'arbitrated', 3), ('E3', 'pending', None)]
    >>> doc["pending"]
    ['E3']
    """
    if readings is None:
        raise InputError("readings is None; pass gold-standard readings (may be empty)")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise InputError(f"tolerance must be a number >= 0 (score points), got {tolerance!r}")
    forms = load_forms()
    exams, errors, warnings, seen = [], [], [], {}
    for n, row in enumerate(readings, start=1):
        try:
            ex = _reading(row, n, forms, tolerance)
            key = (ex["exam_id"], ex["form"])
            if key in seen:
                raise InputError(f"row {n}: exam '{key[0]}' on form '{key[1]}' was already read at row "
                                 f"{seen[key]}; give one reading pair per exam and form")
        except InputError as exc:
            eid = _text(row, "exam_id") if isinstance(row, Mapping) else ""
            errors.append({"row": n, "exam_id": eid or None, "message": exc.cause})
            continue
        seen[key] = n
        w = ex.pop("_warning")
        if w:
            warnings.append(w)
        exams.append(ex)

    by_form: dict[str, list[dict]] = defaultdict(list)
    for ex in exams:
        by_form[ex["form"]].append(ex)
    agreement_by_form = []
    for fid in sorted(by_form):
        kind, cats = _scale(forms[fid])
        block = _agreement([(e["score_1"], e["score_2"]) for e in by_form[fid]], cats, tolerance, kind == "score")
        agreement_by_form.append({"form": fid, "scale": kind, **block})
    scales = {_scale(forms[f]) for f in by_form}
    if len(scales) <= 1:
        kind, cats = next(iter(scales)) if scales else ("score", ())
        agreement = {**_agreement([(e["score_1"], e["score_2"]) for e in exams], cats, tolerance,
                                  kind == "score"), "scale": kind if scales else None}
    else:
        agreement = {**_agreement([], (), tolerance, True), "n": len(exams), "scale": None,
                     "note": (f"the readings use {len(scales)} different scales "
                              f"({', '.join(sorted(f'{k} {c[0]}..{c[-1]}' for k, c in scales))}); kappa is given "
                              f"per form in agreement_by_form")}
    counts = {s: sum(1 for e in exams if e["status"] == s) for s in ("agreed", "arbitrated", "pending")}
    return {
        "schema": GOLD_SCHEMA,
        "tolerance": tolerance,
        "exams": exams,
        "counts": counts,
        "pending": [e["exam_id"] for e in exams if e["status"] == "pending"],
        "agreement": agreement,
        "agreement_by_form": agreement_by_form,
        "errors": errors,
        "warnings": warnings,
    }
