"""The batch: inputs in, one ``phantomqc.analysis/1`` document out.

This is the only place that catches ``Exception``: one input that cannot be analysed gets an entry whose
``error`` names the file and the cause, and every other input is still analysed. The pipeline does the
I/O (through ``phantomqc.io``), calls the pure test runners, and asks ``phantomqc.standards`` for the
verdicts; it never computes a number itself.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

from phantomqc import __version__
from phantomqc._shared.errors import InputError, ManifestError, PhantomQCError
from phantomqc.core.registry import all_kinds
from phantomqc.core.types import AnalysisResult, InputInfo

__all__ = ["Task", "run_task", "analyze", "judge_result", "ANALYSIS_SCHEMA", "DEFAULT_PROFILE", "DEFAULT_TEST_TYPE",
           "exit_status", "load_baseline_json"]

ANALYSIS_SCHEMA = "phantomqc.analysis/1"
DEFAULT_PROFILE = "taiyuan-2024"
DEFAULT_TEST_TYPE = "status"


@dataclass(frozen=True)
class Task:
    """One test to run: a kind, its image files and its parameters."""

    kind: str
    paths: tuple[str, ...]
    params: dict
    identified_by: str = ""
    source: str = ""  # the manifest that asked for it, or "" for a path given on the command line
    name: str = ""
    profile: str | None = None
    test_type: str | None = None
    baseline: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)
    error: dict | None = None  # set when the task is known to be broken before it runs
    warnings: tuple[str, ...] = ()  # found before the run, e.g. by io.scan on the series


def _error_result(task: Task, err: dict, analyzer: str = "") -> AnalysisResult:
    return AnalysisResult(input=InputInfo(paths=task.paths), analyzer=analyzer or task.kind, kind=task.kind,
                          identified_by=task.identified_by, error=err, parameters=_public_params(task.params))


def _public_params(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if k == "conversion":
            continue  # recorded by the runner as parameters["linearization"]
        if isinstance(v, (list, tuple)) and v and isinstance(v[0], Path):
            out[k] = [str(p) for p in v]
        elif isinstance(v, Path):
            out[k] = str(v)
        else:
            out[k] = v
    return out


def _load_images(paths: Sequence[str]):
    from phantomqc.io import read_frames

    images = []
    for p in paths:
        images.extend(read_frames(p))
    return images


def run_task(task: Task) -> AnalysisResult:
    """Load the task's images, run its test and return the result (without verdicts).

    Any failure becomes the entry's ``error``; this function does not raise.
    """
    r = _run_task(task)
    return replace(r, warnings=tuple(task.warnings) + tuple(r.warnings)) if task.warnings else r


def _run_task(task: Task) -> AnalysisResult:
    if task.error is not None:
        return _error_result(task, task.error)
    kinds = all_kinds()
    kind = kinds.get(task.kind)
    if kind is None:
        return _error_result(task, InputError(f"unknown test kind {task.kind!r}").to_dict())
    try:
        images = _load_images(task.paths)
        params = dict(task.params)
        for fd in kind.fields:
            if fd.type == "path_list" and params.get(fd.name):
                params[fd.name] = _load_images([str(p) for p in params[fd.name]])
        runner = kind.load_runner()
        out = runner(images, params)
        info = InputInfo.from_images(images, paths=task.paths)
        return AnalysisResult(input=info, analyzer=out.analyzer or task.kind, kind=task.kind, phantom=out.phantom,
                              identified_by=task.identified_by, measurements=tuple(out.measurements),
                              warnings=tuple(out.warnings), parameters={**_public_params(task.params),
                                                                        **dict(out.parameters)},
                              details=out.details, visuals=tuple(out.visuals))
    except PhantomQCError as exc:
        err = exc.to_dict()
        if not exc.path and task.paths:  # an analyzer does not know file names: name the task's inputs
            names = ", ".join(task.paths[:3]) + (" ..." if len(task.paths) > 3 else "")
            err = {**err, "message": f"{names}: {err['message']}", "path": task.paths[0]}
        return _error_result(task, err)
    except Exception as exc:  # the batch boundary: report, never crash the batch
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        msg = (f"{', '.join(task.paths[:3])}{' ...' if len(task.paths) > 3 else ''}: internal error in "
               f"{task.kind}: {type(exc).__name__}: {exc}{where}. This is a phantomqc defect; please report it "
               f"with the input files")
        return _error_result(task, {"type": "InternalError", "message": msg,
                                    "path": task.paths[0] if task.paths else None})


def load_baseline_json(path: str | Path) -> dict[str, float]:
    """Baseline values from an earlier ``phantomqc.analysis/1`` document: every finite measurement,
    keyed ``metric`` or ``metric[label]``."""
    from phantomqc.standards.evaluate import reference_key

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the baseline result: {exc}", path=p) from None
    if doc.get("schema") != ANALYSIS_SCHEMA:
        raise InputError(f"the baseline file is not a {ANALYSIS_SCHEMA} document (schema = {doc.get('schema')!r})",
                         path=p)
    out = {}
    for a in doc.get("analyses", []):
        for m in a.get("measurements", []):
            v = m.get("value")
            if isinstance(v, (int, float)) and math.isfinite(v):
                out[reference_key(m["id"], m.get("label"))] = float(v)
    return out


def _tasks_from_manifest(path: Path, kind_override: str | None) -> tuple[list[Task], list[AnalysisResult]]:
    from phantomqc.manifest import load_manifest

    try:
        man = load_manifest(path)
    except ManifestError as exc:
        t = Task(kind="manifest", paths=(str(path),), params={}, source=str(path))
        return [], [_error_result(t, exc.to_dict(), analyzer="manifest")]
    tasks = []
    for ts in man.tests:
        common = dict(source=str(path), name=ts.name, profile=man.profile, test_type=man.test_type,
                      baseline=man.baseline, spec=man.spec, device=man.device,
                      identified_by=f"manifest {path.name}, test #{ts.index + 1} (line {ts.line})")
        if ts.error is not None:
            tasks.append(Task(kind=ts.kind or "manifest", paths=(str(path),), params={}, error=ts.error.to_dict(),
                              **common))
        else:
            tasks.append(Task(kind=ts.kind, paths=tuple(str(p) for p in ts.images), params=ts.params, **common))
    return tasks, []


def _tasks_from_paths(paths: Sequence[str], kind_override: str | None, progress: bool
                      ) -> tuple[list[Task], list[AnalysisResult]]:
    from phantomqc.identify import identify_series, pair_single_images
    from phantomqc.io import scan

    res = scan(paths, progress=progress)
    errors = []
    for e in res.errors:
        t = Task(kind="input", paths=(e.path or "",), params={})
        errors.append(_error_result(t, e.to_dict(), analyzer="io"))
    tasks: list[Task] = []
    kinds = all_kinds()
    identified = []
    for s in res.series:
        series_paths = tuple(dict.fromkeys(im.meta.path for im in s.images))
        try:
            decisions = identify_series(s, kind=kind_override)
        except PhantomQCError as exc:
            t = Task(kind=kind_override or "unidentified", paths=series_paths, params={})
            errors.append(_error_result(t, exc.to_dict(), analyzer="identify"))
            continue
        identified.extend((d, s) for d in decisions)
    for d, s in pair_single_images(identified):
        series_paths = tuple(dict.fromkeys(im.meta.path for im in s.images))
        series_warnings = tuple(w for w in (getattr(s, "warnings", ()) or ())
                                if not (d.kind in _REPEATS_BY_DESIGN and w.startswith(_REPEAT_WARNING)))
        kd = kinds[d.kind]
        params = {f.name: f.default for f in kd.fields}
        missing = [f.name for f in kd.fields if f.required]
        paths_for = tuple(d.paths) if d.paths else series_paths
        if missing:
            err = InputError(f"the test {d.kind} needs {', '.join(missing)}, which only a manifest can give; "
                             f"write a manifest (see `phantomqc kinds`)", path=paths_for[0])
            tasks.append(Task(kind=d.kind, paths=paths_for, params=params, identified_by=d.reason,
                              error=err.to_dict(), warnings=series_warnings))
        else:
            tasks.append(Task(kind=d.kind, paths=paths_for, params=params, identified_by=d.reason,
                              warnings=series_warnings))
    return tasks, errors


_LINEARISED_KINDS = ("dr.mtf", "dr.nnps", "dr.dqe")
#: Tests whose images are repeated acquisitions at one position by design: the folder scan's warning that a
#: series repeats a slice position says nothing for them.
_REPEATS_BY_DESIGN = ("mr.snr_pair",)
_REPEAT_WARNING = "1 of 2 images repeat a slice position"


def _with_conversion(task: Task, done: dict[int, AnalysisResult], tasks: list[Task]) -> Task:
    """Give an MTF/NNPS/DQE task of a manifest the conversion function of that manifest's signal-transfer test."""
    if task.kind not in _LINEARISED_KINDS or not task.source or task.error or task.params.get("linearize") is False:
        return task
    for i, r in done.items():
        t = tasks[i]
        if t.kind == "dr.signal_transfer" and t.source == task.source and r.error is None and r.details is not None:
            fit = r.details.fits.get(r.details.model)
            if fit is not None:
                return replace(task, params={**task.params, "conversion": {
                    "model": fit.model, "params": dict(fit.params), "r_squared": float(fit.r_squared)}})
    return task


def exit_status(results: Iterable[AnalysisResult]) -> int:
    """0: everything analysed and nothing failed; 1: a verdict failed; 2: an input could not be analysed."""
    rs = list(results)
    if any(r.error for r in rs):
        return 2
    if any(v.status == "fail" for r in rs for v in r.verdicts):
        return 1
    return 0


def _judge(result: AnalysisResult, task: Task | None, profile_id: str, test_type: str,
           cli_baseline: dict, profiles_cache: dict, baseline_for=None) -> AnalysisResult:
    from phantomqc.standards.profiles import load_profile

    device = dict(task.device) if task else {}
    if result.error is not None:
        return replace(result, device=device)
    if profile_id not in profiles_cache:
        profiles_cache[profile_id] = load_profile(profile_id)
    prof = profiles_cache[profile_id]
    result = replace(result, device=device,
                     judged_with={"profile": prof.id, "profile_version": prof.version, "test_type": test_type,
                                  "spec": dict(task.spec) if task else {}})
    # precedence: the results store's baselines < the manifest's < --baseline on the command line
    stored = dict(baseline_for(result)) if baseline_for is not None else {}
    baseline = {**stored, **(task.baseline if task else {}), **cli_baseline}
    return judge_result(result, prof, test_type, baseline=baseline, spec=(task.spec if task else {}))


def judge_result(result: AnalysisResult, profile, test_type: str, *, baseline: dict | None = None,
                 spec: dict | None = None) -> AnalysisResult:
    """``result`` with its verdicts (re)computed against ``profile`` (a ``Profile``) for ``test_type``, with
    these baselines and specifications (``metric`` or ``metric[label]`` -> value). Pure: no I/O."""
    from phantomqc.standards.evaluate import References, evaluate

    if result.error is not None:
        return result
    refs = References(baseline=dict(baseline or {}), spec=dict(spec or {}))
    kd = all_kinds().get(result.kind)
    missing = {}
    for w in result.warnings:
        for mid in (kd.metrics if kd else ()):
            if mid in w:
                missing[mid] = w
    verdicts = evaluate(result.measurements, profile, test_type, references=refs,
                        expected_metrics=kd.metrics if kd else (), missing_reasons=missing)
    return replace(result, verdicts=verdicts)


def analyze(inputs: Sequence[str | Path], *, profile: str | None = None, test_type: str | None = None,
            kind: str | None = None, baseline: dict | None = None, workers: int = 1, progress: bool = False,
            command: str = "", baseline_for=None, executor=None) -> tuple[dict, list[AnalysisResult]]:
    """Analyse manifests and DICOM paths; return the JSON document and the results (with details for the
    report).

    Parameters
    ----------
    inputs
        Manifest files (``*.toml``), DICOM files, folders or zip archives.
    profile, test_type
        Override the manifest's profile and test type. Defaults: ``taiyuan-2024``, ``status``.
    kind
        Force the test kind for DICOM paths given without a manifest.
    baseline
        Extra baseline values (``metric`` or ``metric[label]`` -> value), e.g. from an earlier result.
    baseline_for
        Optional callable ``(result) -> {reference_key: value}`` giving the stored baselines of the result's
        device (``phantomqc.programme.Store.baseline_hook``); the manifest's and ``baseline`` override them.
    workers
        Number of processes; 1 runs in this process. Ignored when ``executor`` is given.
    executor
        A ``phantomqc.ingest.executors.Executor`` (e.g. a ``DaskExecutor``) to run the tests on; it receives
        tasks holding file paths, never pixel arrays, and stays open (its owner closes it). Default: a
        ``LocalExecutor`` of ``workers`` processes, closed on return. The results are the same, in the same
        order, whichever executor runs them.
    progress
        Show a progress bar on standard error.
    """
    from phantomqc.standards.profiles import load_profile

    started = _dt.datetime.now(_dt.timezone.utc)
    tasks: list[Task] = []
    results_pre: list[AnalysisResult] = []
    dicom_paths: list[str] = []
    for inp in inputs:
        p = Path(inp)
        if p.is_dir() and (p / "manifest.toml").is_file():
            p = p / "manifest.toml"  # a folder written with its manifest: the manifest says what each image is
        if p.suffix.lower() == ".toml":
            t, e = _tasks_from_manifest(p, kind)
            tasks.extend(t)
            results_pre.extend(e)
        else:
            dicom_paths.append(str(p))
    if dicom_paths:
        t, e = _tasks_from_paths(dicom_paths, kind, progress)
        tasks.extend(t)
        results_pre.extend(e)

    main_profile_id = profile or next((t.profile for t in tasks if t.profile), None) or DEFAULT_PROFILE
    main_test_type = test_type or next((t.test_type for t in tasks if t.test_type), None) or DEFAULT_TEST_TYPE
    prof = load_profile(main_profile_id)  # ProfileError propagates: an unknown profile is a usage error

    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc="analysing", unit="test", disable=not progress, file=sys.stderr)
    # Phase 1: the signal-transfer tests, whose fitted conversion function linearises the MTF, NNPS and DQE
    # tests of the same manifest (IEC 62220-1-1). Phase 2: everything else.
    order = sorted(range(len(tasks)), key=lambda i: tasks[i].kind != "dr.signal_transfer")
    n_first = sum(1 for t in tasks if t.kind == "dr.signal_transfer")
    by_index: dict[int, AnalysisResult] = {}
    from phantomqc.ingest.executors import LocalExecutor

    # the local pool uses "spawn", not fork (see LocalExecutor); a caller's executor is the caller's to close
    own_executor = executor is None
    if own_executor:
        executor = LocalExecutor(workers if workers > 1 and len(tasks) > 1 else 1)
    try:
        for phase in (order[:n_first], order[n_first:]):
            phase_tasks = [_with_conversion(tasks[i], by_index, tasks) for i in phase]
            runs = executor.map(run_task, phase_tasks) if phase_tasks else ()
            for i, t, r in zip(phase, phase_tasks, runs):
                if executor.in_process:
                    bar.set_postfix_str(t.kind)
                by_index[i] = r
                tasks[i] = t
                bar.update(1)
    finally:
        if own_executor:
            executor.close()
        bar.close()
    results = [by_index[i] for i in range(len(tasks))]

    cache: dict = {prof.id: prof}
    judged = []
    kinds = all_kinds()
    for t, r in zip(tasks, results):
        pid = profile or t.profile or main_profile_id
        if profile and t.profile and t.profile != profile and t.kind in kinds:
            # the chosen profile has no limit for any measurement of this test (e.g. a DR profile and an MR
            # manifest): judge it by its manifest's profile instead, and say so
            if pid not in cache:
                cache[pid] = load_profile(pid)
            metrics = set(kinds[t.kind].metrics)
            if t.profile not in cache:
                cache[t.profile] = load_profile(t.profile)
            if not any(c.metric in metrics for c in cache[pid].criteria) and \
                    any(c.metric in metrics for c in cache[t.profile].criteria):
                r = replace(r, warnings=tuple(r.warnings) + (
                    f"judged against {t.profile} (its manifest's profile): {profile} has no limit for "
                    f"{t.kind}",))
                pid = t.profile
        tt = test_type or t.test_type or main_test_type
        try:
            judged.append(_judge(r, t, pid, tt, baseline or {}, cache, baseline_for))
        except PhantomQCError as exc:
            judged.append(replace(r, error=exc.to_dict()))
    all_results = results_pre + judged
    doc = build_document(all_results, prof.summary() | {"test_type": main_test_type}, started, command)
    return doc, all_results


def build_document(results: Sequence[AnalysisResult], profile: dict, started: _dt.datetime, command: str = "") -> dict:
    counts = {"pass": 0, "fail": 0, "not_evaluated": 0, "no_limit": 0}
    for r in results:
        for v in r.verdicts:
            counts["no_limit" if not v.has_criterion else v.status] += 1
    n_err = sum(1 for r in results if r.error)
    status = exit_status(results)
    overall = ("error" if status == 2 else "fail" if status == 1 else
               "incomplete" if counts["not_evaluated"] or not (counts["pass"] + counts["fail"]) else "pass")
    return {
        "schema": ANALYSIS_SCHEMA,
        "phantomqc_version": __version__,
        "generated_at": started.isoformat(timespec="seconds"),
        "command": command,
        "profile": profile,
        "analyses": [r.to_dict() for r in results],
        "summary": {"analyses": len(results), "input_errors": n_err, "verdicts": counts,
                    "exit_status": status, "overall": overall},
    }
