"""The gamma-camera, SPECT and PET twins written as DICOM, with truth.json and a manifest: the reference phantoms
of ``phantomqc demo`` and of the pipeline truth tests. The images come from the in-memory generators of
``reference_phantoms.nm``, ``.spect`` and ``.pet``; this module only writes them.

``make_nm_suite(out_dir, seed=0)`` writes ``flood/``, ``four_bar/``, ``quadrant_bar/``, ``jaszczak/`` (one NM file
each; the Jaszczak reconstruction as a multi-frame RECON TOMO object) and ``pet_iq/`` (the IEC body phantom, one PT
file per slice, Bq/ml), ``truth.json`` and ``manifest.toml``; returns the manifest path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._writing import json_default, toml_value, write_nm, write_pt

__all__ = ["make_nm_suite", "NM_PHANTOMS"]


def _u16(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a), 0, 65535).astype(np.uint16)


def make_nm_suite(out_dir, *, seed: int = 0, **ignored) -> Path:
    """Write the NM/SPECT/PET reference phantoms (see the module docstring); returns the manifest."""
    from phantomqc.io.write import new_uid
    from reference_phantoms.nm import flood, four_bar_image, quadrant_bar_image
    from reference_phantoms.pet import iec_body_phantom
    from reference_phantoms.spect import jaszczak_volume

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    study = new_uid()
    expected: list[dict] = []

    def exp(mid, value, label=None, how=""):
        expected.append({"id": mid, "label": label, "value": float(value), "how": how})

    # flood: noiseless expected counts (1e4 per pixel x gain), 2 mm pixels -> rebinned 4 x 4 (8 mm, NU 1 coarsest)
    img, tr = flood((256, 256), (2.0, 2.0), counts_per_pixel=1.0e4, rng=None)
    write_nm(out / "flood" / "flood.dcm", _u16(img), spacing_mm=(2.0, 2.0), series_uid=new_uid(), study_uid=study,
             series_description="UNIFORMITY FLOOD")
    u = tr["uniformity"][4]
    for lab in ("ufov", "cfov"):  # the gain bumps lie inside the CFOV: the same extremes in both fields
        exp("nm.uniformity.integral_percent", u["integral_percent"], lab, "flood_truth on the noiseless map, 4x4 blocks")
        exp("nm.uniformity.differential_percent", u["differential_percent"], lab, "as above")
    # four bars: 7.5 mm FWHM lines 100 mm apart, Poisson counts
    img, tr = four_bar_image((512, 512), (1.0325, 1.0325), fwhm_mm=7.5, rng=rng)
    write_nm(out / "four_bar" / "four_bar.dcm", _u16(img), spacing_mm=(1.0325, 1.0325), series_uid=new_uid(),
             study_uid=study, series_description="FOUR BAR")
    for ax in ("x", "y"):
        exp("nm.four_bar.fwhm_mm", tr["fwhm_mm"], ax, "Gaussian cross-profile of the generator")
        exp("nm.four_bar.pixel_size_mm", tr["pixel_size_mm"][ax], ax, "the true pixel size")
    # quadrant bars: Gaussian LSF of 3.5 mm
    img, tr = quadrant_bar_image((512, 512), (1.0325, 1.0325), lsf_fwhm_mm=3.5, rng=rng)
    write_nm(out / "quadrant_bar" / "quadrant_bar.dcm", _u16(img), spacing_mm=(1.0325, 1.0325), series_uid=new_uid(),
             study_uid=study, series_description="QUADRANT BAR")
    for w, m in tr["moment_modulation"].items():
        exp("nm.quadrant_bar.mtf", m, f"{w:.2f}mm", "moments modulation of the blurred square wave (NMQC's MTF)")
    # Jaszczak reconstruction: 40 slices of 128^2 at 4 mm, 6 cold spheres, 10 mm blur, Poisson
    vol, tr = jaszczak_volume(shape=(40, 128, 128), pixel_mm=4.0, fwhm_mm=10.0, noise="poisson", rng=rng)
    write_nm(out / "jaszczak" / "jaszczak.dcm", _u16(vol), spacing_mm=(4.0, 4.0), series_uid=new_uid(),
             study_uid=study, series_description="JASZCZAK SPECT",
             image_type=("DERIVED", "PRIMARY", "RECON TOMO", "EMISSION"), slice_spacing_mm=4.0)
    # PET: IEC body phantom, 4:1, 6 mm PSF, 3 % noise, 89 slices of 192^2
    vol, spacing, tr = iec_body_phantom(activity_ratio=4.0, fwhm_mm=6.0, noise_percent=3.0, rng=rng)
    series, forf = new_uid(), new_uid()
    dz, dy, dx = spacing
    for k in range(vol.shape[0]):
        write_pt(out / "pet_iq" / f"PT{k + 1:04d}.dcm", vol[k], spacing_mm=(dy, dx), position_mm=(0.0, 0.0, k * dz),
                 series_uid=series, study_uid=study, frame_of_reference_uid=forf, instance_number=k + 1,
                 n_slices=vol.shape[0], slice_thickness_mm=dz)
    truth = {"schema": "phantomqc.truth/1", "generator": "reference_phantoms.nm_suite", "seed": seed,
             "expected": expected, "pet": {k: tr[k] for k in ("activity_ratio", "background", "fwhm_mm", "noise_sd")}}
    (out / "truth.json").write_text(json.dumps(truth, indent=1, default=json_default) + "\n", encoding="utf-8")
    tests = [("nm.uniformity", "flood", ["flood/flood.dcm"], {}),
             ("nm.four_bar", "four_bar", ["four_bar/four_bar.dcm"], {}),
             ("nm.quadrant_bar", "quadrant_bar", ["quadrant_bar/quadrant_bar.dcm"], {}),
             ("spect.jaszczak", "jaszczak", ["jaszczak/jaszczak.dcm"], {}),
             ("pet.nema_iq", "nema_iq", ["pet_iq"], {"activity_ratio": 4.0})]
    lines = ['schema = "phantomqc.manifest/1"', 'profile = "nema-earl"', 'test_type = "acceptance"', "",
             "# written by reference_phantoms.nm_suite; the expected values are in truth.json", ""]
    for kind, name, images, extra in tests:
        lines += ["[[test]]", f"kind = {toml_value(kind)}", f"name = {toml_value(name)}",
                  f"images = {toml_value(images)}"] + [f"{k} = {toml_value(v)}" for k, v in extra.items()] + [""]
    (out / "manifest.toml").write_text("\n".join(lines), encoding="utf-8")
    return out / "manifest.toml"


NM_PHANTOMS = {"nm-suite": make_nm_suite}
