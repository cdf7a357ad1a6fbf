"""Analyzer figures kept with runs (``run_figure``, migration 0002) and shown in the acceptance PDF.

- the migration upgrades a database made at 0001 in place (its runs stay), on SQLite and PostgreSQL;
- stored PNG bytes read back identical (SHA-256), with their size from the PNG header; the policy
  (acceptance runs, any run when asked) and the bounds (8 figures, 400 kB each) hold; a figure that cannot be drawn
  or kept is left out with a warning and the run is still stored; altered bytes are refused when read;
- ``figure_pngs`` draws a result's visuals to PNG bytes under the size bound;
- ``phantomqc analyze --store`` keeps the figures of an acceptance run of a reference CT water phantom, not those of
  a status run unless ``--store-figures``; ``phantomqc report acceptance`` shows them ("Figure 1.k") and says so in
  one line when a run has none.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.orm import Session

from phantomqc._shared.errors import InputError
from phantomqc.programme.db import open_engine, upgrade
from phantomqc.programme.models import AnalysisRun, RunFigure, Site
from phantomqc.programme.store import MAX_FIGURE_PNG_BYTES, MAX_FIGURES_PER_RUN, Store, keeps_figures, stored_figures

from ._results import ct_water_result


def _png(width: int, height: int, seed: int) -> bytes:
    """A valid 8-bit grey PNG of uniform random pixels (incompressible: about width x height bytes)."""
    pix = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    raw = b"".join(b"\x00" + pix[i].tobytes() for i in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _renderer(figs, calls: list | None = None):
    """A stand-in for ``figure_pngs``: returns ``figs`` ((title, png) pairs) and records its keyword arguments."""
    def render(result, **kw):
        if calls is not None:
            calls.append((result.kind, kw))
        return SimpleNamespace(figures=[SimpleNamespace(title=t, png=p) for t, p in figs], skipped=[])
    return render


# --------------------------------------------------------------------------------------------------
# migration


def test_migration_0002_upgrades_a_0001_database_in_place(db_url):
    engine = open_engine(db_url, migrate=False)
    upgrade(engine, "0001")
    assert "run_figure" not in inspect(engine).get_table_names()
    with Session(engine) as s, s.begin():
        site = Site(name="Site A")
        s.add(site)
        s.flush()
        s.add(AnalysisRun(site_id=site.id, kind="ct.water", analyzer="ct.water", test_type="acceptance",
                          config_hash="c" * 64, phantomqc_version="0.0.9", input_key="k" * 64, input={"paths": ["a"]},
                          parameters={}, status="pass"))
    upgrade(engine)  # to the head, in place
    with engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        assert c.execute(text("SELECT kind, input_key FROM analysis_run")).all() == [("ct.water", "k" * 64)]
    assert "run_figure" in inspect(engine).get_table_names()
    # the upgraded database takes figures for the run it already had
    st = Store(engine=engine)
    run_id = st.runs()[0].id
    assert st.add_figures(run_id, [SimpleNamespace(title="old run", png=_png(8, 4, 0))]) == 1
    assert [(f.ordinal, f.width_px, f.height_px) for f in st.figures(run_id)] == [(1, 8, 4)]
    engine.dispose()


# --------------------------------------------------------------------------------------------------
# the store


def test_figures_read_back_byte_identical(db_url):
    st = Store(db_url)
    pngs = [("ROIs", _png(64, 48, 1)), ("profile", _png(33, 17, 2)), ("", _png(5, 300, 3))]
    calls: list = []
    rec = st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="A",
                    figures=_renderer(pngs, calls)).records[0]
    # the store passes its bounds to the renderer
    assert calls == [("ct.water", {"max_figures": MAX_FIGURES_PER_RUN, "max_png_bytes": MAX_FIGURE_PNG_BYTES})]
    assert rec.figures_stored == 3 and rec.figure_warnings == ()
    got = st.figures(rec.run_id)
    assert [f.ordinal for f in got] == [1, 2, 3]
    assert [f.title for f in got] == ["ROIs", "profile", ""]
    assert [(f.width_px, f.height_px) for f in got] == [(64, 48), (33, 17), (5, 300)]  # from the IHDR chunk
    for f, (_t, png) in zip(got, pngs):
        assert f.png == png and f.sha256 == hashlib.sha256(png).hexdigest() == hashlib.sha256(f.png).hexdigest()
    # the same read in an open session (as the acceptance report does)
    with st.session() as s:
        assert [f.png for f in stored_figures(s, rec.run_id)] == [p for _t, p in pngs]
    # a run without figures gives an empty list
    other = st.record([ct_water_result(0.1, uid="2", test_type="status")], figures=_renderer(pngs)).records[0]
    assert st.figures(other.run_id) == []
    st.close()


def test_policy_acceptance_or_asked(tmp_path):
    assert keeps_figures("acceptance") and not keeps_figures("status") and not keeps_figures("stability")
    assert keeps_figures("status", asked=True) and not keeps_figures(None) and keeps_figures(None, asked=True)
    st = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    png = [("a", _png(4, 4, 0))]
    calls: list = []
    recs = st.record([ct_water_result(0.1, uid="1", test_type="status"),
                      ct_water_result(0.2, uid="2", test_type="stability", when="2026-01-06T08:00:00"),
                      ct_water_result(0.3, uid="3", test_type="acceptance", when="2026-01-07T08:00:00")],
                     site="A", figures=_renderer(png, calls)).records
    assert [r.figures_stored for r in recs] == [0, 0, 1]
    assert len(calls) == 1  # the renderer is not even called for runs that keep no figures
    rec = st.record([ct_water_result(0.1, uid="4", test_type="status", when="2026-01-08T08:00:00")],
                    figures=_renderer(png), all_figures=True).records[0]
    assert rec.figures_stored == 1
    # without a renderer nothing is drawn or stored, acceptance or not
    rec = st.record([ct_water_result(0.1, uid="5", test_type="acceptance", when="2026-01-09T08:00:00")]).records[0]
    assert rec.figures_stored == 0 and st.figures(rec.run_id) == []


def test_bounds_and_bad_figures_are_skipped_with_a_warning(tmp_path):
    st = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    big = _png(700, 700, 9)  # 490 000 incompressible pixels: over the 400 kB bound
    assert len(big) > MAX_FIGURE_PNG_BYTES
    figs = [("too big", big), ("not a png", b"GIF89a......................."), *[(f"f{k}", _png(4, 4, k))
                                                                          for k in range(10)]]
    rec = st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="A",
                    figures=_renderer(figs)).records[0]
    assert rec.status == "pass" and rec.run_id is not None
    got = st.figures(rec.run_id)
    # 8 kept, numbered 1..8 without gaps: the first eight good ones
    assert [f.title for f in got] == [f"f{k}" for k in range(8)] and [f.ordinal for f in got] == list(range(1, 9))
    w = " | ".join(rec.figure_warnings)
    assert "'too big' not stored" in w and str(len(big)) in w
    assert "'not a png' not stored" in w and "not a PNG" in w
    assert "'f8' not stored: a run keeps at most 8" in w and "'f9' not stored" in w
    # the warnings are stored with the run (the acceptance report prints them)
    assert set(rec.figure_warnings) <= set(st.runs()[0].warnings)

    def broken(result, **kw):
        raise RuntimeError("no display")

    rec = st.record([ct_water_result(0.5, uid="2", test_type="acceptance", when="2026-01-06T08:00:00")],
                    figures=broken).records[0]
    assert rec.status == "pass" and rec.figures_stored == 0
    assert rec.figure_warnings == ("analyzer figures not stored: RuntimeError: no display",)

    # add_figures refuses what record() skips, and the ninth figure of a run
    with pytest.raises(InputError, match="not a PNG"):
        st.add_figures(rec.run_id, [SimpleNamespace(title="x", png=b"nope")])
    with pytest.raises(InputError, match="at most 8"):
        st.add_figures(recs_run := rec.run_id, [SimpleNamespace(title=f"g{k}", png=_png(4, 4, k)) for k in range(9)])
    assert st.add_figures(recs_run, [SimpleNamespace(title="g", png=_png(4, 4, 0))] * 8) == 8
    with pytest.raises(InputError, match="no stored run 999"):
        st.add_figures(999, [])


def test_altered_figure_is_refused_when_read(tmp_path):
    st = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    rec = st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="A",
                    figures=_renderer([("ROIs", _png(8, 8, 1))])).records[0]
    with st.session() as s, s.begin():
        s.execute(update(RunFigure).where(RunFigure.run_id == rec.run_id).values(png=_png(8, 8, 2)))
    with pytest.raises(InputError, match=rf"figure 1 of run {rec.run_id} \('ROIs'\) does not match the SHA-256"):
        st.figures(rec.run_id)


def test_figures_go_with_their_run(tmp_path):
    """The foreign key cascades: deleting a run (an administrator's clean-up) removes its figures."""
    st = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    rec = st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="A",
                    figures=_renderer([("ROIs", _png(8, 8, 1))])).records[0]
    with st.session() as s, s.begin():
        s.execute(text("DELETE FROM baseline"))
        s.execute(text("DELETE FROM analysis_run WHERE id = :i"), {"i": rec.run_id})
    with st.session() as s:
        assert s.scalars(select(RunFigure)).all() == []


# --------------------------------------------------------------------------------------------------
# drawing to bytes


def test_figure_pngs_draws_bounded_pngs():
    from phantomqc.core.visuals import Curve, ImagePanel, Plot
    from phantomqc.report.figures import figure_pngs

    rng = np.random.default_rng(0)
    noise = ImagePanel("noise", rng.normal(0, 1, (400, 400)), spacing_mm=(0.5, 0.5))
    plot = Plot("curve", (Curve(np.arange(10.0), np.arange(10.0) ** 2, "y"),), "x", "y")
    bad = ImagePanel("bad", np.zeros((2, 3, 4)))  # not 2-D: cannot be drawn
    result = SimpleNamespace(visuals=(noise, bad, plot))
    out = figure_pngs(result)
    assert [f.title for f in out.figures] == ["noise", "curve"]
    assert all(f.png.startswith(b"\x89PNG\r\n\x1a\n") for f in out.figures)
    assert len(out.skipped) == 1 and "figure 2 'bad' could not be drawn: ValueError" in out.skipped[0]
    # the plot fits at 110 dpi; white noise compresses so badly that at 110 dpi its PNG is over 400 kB: it was drawn
    # again at a lower resolution, under the bound
    assert out.figures[1].dpi == 110 and len(out.figures[1].png) <= 400_000
    assert 40 <= out.figures[0].dpi < 110 and len(out.figures[0].png) <= 400_000
    # a tighter bound: lower still
    bound = len(out.figures[0].png) // 2
    small = figure_pngs(SimpleNamespace(visuals=(noise,)), max_png_bytes=bound)
    (f,) = small.figures
    assert len(f.png) <= bound and 40 <= f.dpi < out.figures[0].dpi
    # a bound no resolution meets: left out with a message naming the size
    none = figure_pngs(SimpleNamespace(visuals=(noise,)), max_png_bytes=1000)
    assert none.figures == () and "not stored" in none.skipped[0] and "more than 1000" in none.skipped[0]
    # at most max_figures specs are drawn
    capped = figure_pngs(SimpleNamespace(visuals=(plot, plot, plot)), max_figures=2)
    assert len(capped.figures) == 2
    assert capped.skipped == ("figures 3 to 3 not stored: a run keeps at most 2 figures",)


# --------------------------------------------------------------------------------------------------
# the command line and the acceptance PDF, on a reference CT water phantom


@pytest.fixture(scope="module")
def water_series(tmp_path_factory):
    """Three acquisitions of the 20 cm water phantom (new UIDs each: three distinct runs)."""
    from reference_phantoms.ct import make_ct_series

    out = []
    for k in range(3):
        d = tmp_path_factory.mktemp(f"water{k}")
        out.append(make_ct_series(d, phantom="water200", thickness_mm=10.0, spacing_z_mm=10.0, z_start_mm=-10.0,
                                  z_stop_mm=10.0, noise_sd_hu=2.0, matrix=256, pixel_mm=0.9765625, seed=k))
    return out


def _main(capsys, *argv) -> tuple[int, str, str]:
    from phantomqc.cli import main

    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _n_pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes()))


def _pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed (scripts/install-system-packages.sh installs it)")
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def test_cli_stores_acceptance_figures_and_the_pdf_shows_them(water_series, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    acc, status1, status2 = water_series
    code, out, err = _main(capsys, "analyze", acc, "--store", "--site", "A", "--db", db, "--json", "-",
                           "--no-progress")
    assert code == 0, err
    stored = json.loads(out)["analyses"][0]["stored"]
    # ct.water draws two figures: the uniform section with its ROIs, and the values per slice
    assert stored["figures_stored"] == 2
    st = Store(db)
    figs = st.figures(stored["run_id"])
    assert [f.title.split(":")[0] for f in figs] == ["Uniform section", "Uniform section per slice"]
    assert all(f.png.startswith(b"\x89PNG") and len(f.png) < MAX_FIGURE_PNG_BYTES for f in figs)
    assert all((f.width_px, f.height_px) == (704, 528) for f in figs)  # 6.4 x 4.8 in at 110 dpi, not downscaled

    # a status run keeps none ...
    code, out, err = _main(capsys, "analyze", status1, "--store", "--db", db, "--test-type", "status", "--json", "-",
                           "--no-progress")
    assert code == 0, err
    s1 = json.loads(out)["analyses"][0]["stored"]
    assert s1["figures_stored"] == 0 and st.figures(s1["run_id"]) == []
    # ... unless asked
    code, out, err = _main(capsys, "analyze", status2, "--store", "--store-figures", "--db", db, "--test-type",
                           "status", "--json", "-", "--no-progress")
    assert code == 0, err
    s2 = json.loads(out)["analyses"][0]["stored"]
    assert s2["figures_stored"] == 2 and len(st.figures(s2["run_id"])) == 2
    # --store-figures without --store is a usage error
    code, _out, err = _main(capsys, "analyze", status2, "--store-figures", "--no-progress")
    assert code == 2 and "--store-figures need --store" in err

    pdf = tmp_path / "acc.pdf"
    code, out, err = _main(capsys, "report", "acceptance", "PHANTOMQC-CT", "--out", pdf, "--db", db)
    assert code == 0, err
    # the same report with the figures left out (an empty mapping): the cover and the test's page; the figures
    # need one page more. acceptance_data reads them itself, so every caller (the CLI, the demo) gets them.
    from phantomqc.programme.period import acceptance_data
    from phantomqc.report.acceptance import render_acceptance_pdf

    with st.session() as s:
        data = acceptance_data(s, "PHANTOMQC-CT")
        assert [len(t.figures) for t in data.tests] == [2]
        bare = render_acceptance_pdf(data, tmp_path / "bare.pdf", figures={})
    assert _n_pages(bare) == 2 and _n_pages(pdf) == 3
    words = _pdf_text(pdf)
    assert "Analyzer figures of test 1" in words
    assert "Figure 1.1 Uniform section:" in words and "Figure 1.2 Uniform section per slice" in words
    assert "not stored for this run" not in words
    st.close()


def test_pdf_without_stored_figures_says_so(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    st = Store(db)
    # recorded without a renderer (as an older phantomqc did): no figures
    st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="A")
    st.close()
    pdf = tmp_path / "acc.pdf"
    code, _out, err = _main(capsys, "report", "acceptance", "CT1", "--out", pdf, "--db", db)
    assert code == 0, err
    assert _n_pages(pdf) == 2
    words = _pdf_text(pdf)
    assert "Analyzer figures not stored for this run." in words and "Figure 1.1" not in words


def test_pdf_lays_out_many_figures_over_pages(tmp_path):
    """Five tall and wide figures: two per row, rows that do not fit go to the next page, numbered 1.1 to 1.5."""
    from phantomqc.programme.period import acceptance_data
    from phantomqc.report.acceptance import _figure_box, render_acceptance_pdf

    st = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    sizes = [(704, 528), (300, 900), (704, 528), (704, 528), (1000, 200)]
    rec = st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="A",
                    figures=_renderer([(f"fig {k}", _png(w, h, k)) for k, (w, h) in enumerate(sizes, 1)])
                    ).records[0]
    # the aspect ratio is kept; a tall figure is narrowed to at most 4.2 in high
    w, h = _figure_box(st.figures(rec.run_id)[1], 3.385)
    assert h == pytest.approx(4.2) and w / h == pytest.approx(300 / 900)
    with st.session() as s:
        data = acceptance_data(s, "CT1")
        out = render_acceptance_pdf(data, tmp_path / "r.pdf", figures={rec.run_id: stored_figures(s, rec.run_id)})
    # cover, the test's page (table and strip chart, first row of figures), then the remaining two rows
    assert _n_pages(out) >= 3
    words = _pdf_text(out)
    for k in range(1, 6):
        assert f"Figure 1.{k} fig {k}" in words
    st.close()


def test_record_result_unchanged_for_existing_callers(tmp_path):
    """Existing calls (no ``figures``) behave as before: same outcome fields, nothing in run_figure."""
    st = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    r = ct_water_result(0.4, uid="1", test_type="acceptance")
    rec = st.record([replace(r)], site="A").records[0]
    assert rec.status == "pass" and rec.figures_stored == 0 and rec.figure_warnings == ()
    assert st.runs()[0].warnings == list(r.warnings)
    with st.session() as s:
        assert s.scalars(select(RunFigure)).all() == []
