"""SPECT tomographic tests: truth on the digital twins (reference_phantoms.spect) and NMQC golden values."""

from __future__ import annotations

import numpy as np
import pytest

from phantomqc._shared.errors import InputError
from phantomqc.pet_spect.spect import center_of_rotation, tomographic_contrast, tomographic_uniformity
from reference_phantoms.spect import cor_projections, jaszczak_volume

# ---------------------------------------------------------------- centre of rotation


@pytest.mark.parametrize("offset_mm", [-2.0, 0.0, 1.3])
@pytest.mark.parametrize("pixel_mm", [2.4, 4.0])
def test_cor_offset_within_0_05_mm(offset_mm, pixel_mm):
    # Poisson noise: centroid SD = sigma_psf / sqrt(counts) = 4.2 mm / sqrt(2e4) = 0.03 mm per angle, x0 averages 64
    # of them (SE ~ 0.004 mm), so the 0.05 mm of the issue is ~10 SE; an off-by-half-pixel centre (1.2-2 mm) fails.
    p, angles, truth = cor_projections(offset_mm=offset_mm, pixel_mm=pixel_mm, rng=np.random.default_rng(3))
    r = center_of_rotation(p, angles, truth["spacing_mm"])
    assert r.x_offset_mm.value == pytest.approx(offset_mm, abs=0.05)
    assert r.x_offset_mm.unit == "mm"
    assert r.amplitude_mm == pytest.approx(50.0, abs=0.05)


def test_cor_axial_deviation_noiseless():
    # exact pixel integration and no noise: the centroid is exact to float precision; 0.01 mm covers the median
    # background step only
    p, angles, truth = cor_projections(offset_mm=0.5, axial_drift_mm=0.7, noise="none")
    r = center_of_rotation(p, angles, truth["spacing_mm"])
    assert r.y_deviation_mm.value == pytest.approx(truth["y_deviation_mm"], abs=0.01)
    assert r.x_residual_max_mm.value < 0.01


def test_cor_rejects_wrong_angle_count():
    p, angles, truth = cor_projections(noise="none")
    with pytest.raises(InputError, match="angles_deg"):
        center_of_rotation(p, angles[:-1], truth["spacing_mm"])


# ---------------------------------------------------------------- tomographic uniformity


def _expected_bowl_iu(truth, result, mask):
    """IU of the generating map (the radial bowl) at the rebinned pixel centres inside ``mask``.

    Rebinning k x k pixels and the 9-point kernel average a quadratic b r^2: they add b (2 (k^2 - 1)/12 p^2 + 2 x 0.5
    P^2) (p native, P rebinned pixel; 0.5 px^2 = the kernel's variance per axis). The result's mask only says which
    pixels count; the values come from the truth."""
    k = result.rebin_factor
    _dz, dy, dx = truth["spacing_mm"]
    _, yc, xc = truth["center_zyx"]
    prof = truth["profile"]
    n, big_r = prof["nonuniformity"], prof["radius_mm"]
    jy, jx = np.nonzero(mask)
    y = (jy * k + (k - 1) / 2.0 - yc) * dy
    x = (jx * k + (k - 1) / 2.0 - xc) * dx
    r2 = y**2 + x**2 + 2 * (k**2 - 1) / 12.0 * dx**2 + 2 * 0.5 * (k * dx) ** 2
    f = 1.0 + n * r2 / big_r**2 - n / 2.0
    return (f.max() - f.min()) / (f.max() + f.min()) * 100.0


@pytest.mark.parametrize("nonuniformity", [0.04, 0.1])
@pytest.mark.parametrize("pixel_mm", [3.3, 4.0, 6.0])
def test_tomographic_uniformity_equals_generating_map(nonuniformity, pixel_mm):
    # noiseless, no spheres, no blur: IU must equal the map's own (max - min)/(max + min) within 0.1 pp (issue);
    # a missed smoothing or rebinning changes the value by > 0.1 pp only through edge pixels, so the UFOV and CFOV
    # values are both checked, and the CFOV must be smaller than the UFOV (the bowl rises outwards)
    vol, truth = jaszczak_volume(noise="none", spheres=False, nonuniformity=nonuniformity, pixel_mm=pixel_mm,
                                 shape=(8, int(300 / pixel_mm), int(300 / pixel_mm)))
    r = tomographic_uniformity(vol, truth["spacing_mm"])
    assert 4.48 <= r.pixel_mm <= 8.32
    assert r.cfov_integral_percent.value == pytest.approx(_expected_bowl_iu(truth, r, r.cfov_mask), abs=0.1)
    assert r.ufov_integral_percent.value == pytest.approx(_expected_bowl_iu(truth, r, r.ufov_mask), abs=0.1)
    assert r.cfov_integral_percent.value < r.ufov_integral_percent.value
    # the centre is the bowl's bottom: centre-to-border < 1
    assert r.center_to_border.value < 1.0


def test_tomographic_uniformity_flat_is_zero_and_differential_vectorised():
    vol, truth = jaszczak_volume(noise="none", spheres=False, nonuniformity=0.0)
    r = tomographic_uniformity(vol, truth["spacing_mm"])
    # a flat cylinder: the CFOV is exactly flat after smoothing (far from the rim)
    assert r.cfov_integral_percent.value == pytest.approx(0.0, abs=1e-9)
    assert r.center_to_border.value == pytest.approx(1.0, abs=1e-9)
    # differential against a slow loop over every 5-pixel run
    vol, truth = jaszczak_volume(spheres=False, nonuniformity=0.05, counts=200.0, rng=np.random.default_rng(7))
    r = tomographic_uniformity(vol, truth["spacing_mm"])
    img, m = r.image, r.cfov_mask
    best = 0.0
    for i in range(img.shape[0]):
        for j in range(img.shape[1]):
            for run in (img[i, j:j + 5] if m[i, j:j + 5].size == 5 and m[i, j:j + 5].all() else None,
                        img[i:i + 5, j] if m[i:i + 5, j].size == 5 and m[i:i + 5, j].all() else None):
                if run is not None:
                    best = max(best, (run.max() - run.min()) / (run.max() + run.min()) * 100)
    assert r.cfov_differential_percent.value == pytest.approx(best, rel=1e-12)


# ---------------------------------------------------------------- tomographic contrast


def _truth_contrast(truth, i, centre):
    """Mean contrast (1 - C_mean/C_B) x 100 of the blurred, noiseless volume over the nominal sphere at ``centre``
    (the analyzer's voxel, checked against the true centre separately): the same ROI rule, partial volume included,
    against the true background."""
    clean = truth["noiseless"]
    dz, dy, dx = truth["spacing_mm"]
    cz, cy, cx = centre
    r = truth["sphere_diameters_mm"][i] / 2
    z, y, x = np.ogrid[: clean.shape[0], : clean.shape[1], : clean.shape[2]]
    m = ((z - cz) * dz) ** 2 + ((y - cy) * dy) ** 2 + ((x - cx) * dx) ** 2 <= r**2
    return (1 - clean[m].mean() / truth["background"]) * 100


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("fwhm_mm", [8.0, 12.0])
def test_contrast_of_large_spheres_within_2pp(seed, fwhm_mm):
    # low noise (1e5 counts/voxel: 0.3 % per voxel, ~0.03 % on a large sphere's mean): the 2 pp of the issue is
    # ~60 noise SE; it would catch a wrong background (the rim's fall-off in it moves it by > 2 %) or formula
    vol, truth = jaszczak_volume(counts=1e5, nonuniformity=0.0, fwhm_mm=fwhm_mm, rng=np.random.default_rng(seed))
    r = tomographic_contrast(vol, truth["spacing_mm"])
    assert [s.label for s in r.spheres] == [f"sphere{i}" for i in range(1, 7)]
    for i, s in enumerate(r.spheres):  # each found within one voxel of its true centre
        assert np.allclose((s.z, s.y, s.x), truth["sphere_centers_zyx"][i], atol=1.0), s.label
    for i in range(3):
        assert r.spheres[i].mean_percent.value == pytest.approx(_truth_contrast(truth, i, (r.spheres[i].z, r.spheres[i].y, r.spheres[i].x)), abs=2.0)
    # Michelson and (1 - ratio) forms are the same numbers: M = c / (2 - c)
    for s in r.spheres:
        c = s.mean_percent.value / 100
        assert s.mean_michelson_percent.value == pytest.approx(c / (2 - c) * 100, rel=1e-9)
    # contrast falls with sphere size
    means = [s.mean_percent.value for s in r.spheres]
    assert means[0] > means[2] > means[5]


def test_contrast_worsens_with_blur():
    vals = []
    for fwhm in (6.0, 12.0, 18.0):
        vol, truth = jaszczak_volume(counts=1e5, nonuniformity=0.0, fwhm_mm=fwhm)
        vals.append(tomographic_contrast(vol, truth["spacing_mm"]).spheres[3].mean_percent.value)
    assert vals[0] > vals[1] > vals[2]


# ---------------------------------------------------------------- real data (NMQC reference values)


def _entry(golden, quantity_start):
    for e in golden:
        if e["dataset"] == "nm/Jaszack.dcm" and e["quantity"].startswith(quantity_start):
            return e
    pytest.fail(f"golden.json has no entry for nm/Jaszack.dcm {quantity_start!r}"
                f" (the test maps a missing reference value: fix the mapping)")


@pytest.fixture(scope="module")
def jaszczak(realdata_dir):
    from phantomqc.io.read import read_frames

    path = realdata_dir / "nm" / "Jaszack.dcm"
    if not path.is_file():
        pytest.fail(f"{path} not found although the real-data folder exists: the dataset listed in "
                    f"../shared/realdata/README.md is missing")
    frames = read_frames(path)
    vol = np.stack([f.pixels for f in frames]).astype(np.float64)
    dy, dx = frames[0].spacing_mm
    dz = frames[0].meta.extra.get("spacing_between_slices_mm") or frames[0].meta.slice_thickness_mm or dx
    return vol, (abs(float(dz)), dy, dx)


def test_golden_tomographic_uniformity(jaszczak, golden_nm):
    # NMQC (reference values quoted in pylinac's tests) averaged every slice, its default range: slices=None here
    vol, sp = jaszczak
    r = tomographic_uniformity(vol, sp)
    e = _entry(golden_nm, "CFOV integral")
    tol = e["tolerance"]["abs"]
    assert r.cfov_integral_percent.value == pytest.approx(e["expected"][0], abs=tol)
    assert r.cfov_differential_percent.value == pytest.approx(e["expected"][1], abs=tol)
    e = _entry(golden_nm, "centre-to-border")
    # ours 1.009 vs NMQC 1.004: within the entry's 0.01; the centre ROI (0.32 of the phantom, 46 pixels of 8.3 mm)
    # is the pylinac/NMQC rule, the 0.005 is its sensitivity to the erosion's rounding
    assert r.center_to_border.value == pytest.approx(e["expected"], abs=e["tolerance"]["abs"])


def test_golden_tomographic_contrast(jaszczak, golden_nm):
    # Method difference, documented: NMQC's "contrast" is Michelson, (C_B - C_min)/(C_B + C_min) x 100, so the golden
    # values are compared with ``max_michelson_percent``; our ``max_percent`` (id nm.tomo_contrast.max_percent) is
    # the IAEA/NEMA cold contrast (1 - C_min/C_B) x 100 of the same voxel, i.e. 2M/(1 + M): 72.1 -> 83.8.
    vol, sp = jaszczak
    r = tomographic_contrast(vol, sp)
    e = _entry(golden_nm, "max contrast")
    tol = e["tolerance"]["abs"]
    assert r.spheres[0].max_michelson_percent.value == pytest.approx(e["expected"][0], abs=tol)
    assert r.spheres[5].max_michelson_percent.value == pytest.approx(e["expected"][1], abs=tol)
    for s in r.spheres:
        m = s.max_michelson_percent.value / 100
        assert s.max_percent.value == pytest.approx(2 * m / (1 + m) * 100, rel=1e-9)
    # NMQC's uniformity baseline 1331 +- 12 (pylinac test); the background is its most uniform slice's UFOV mean
    assert r.background.value == pytest.approx(1331, abs=12)


def test_differential_numpy_twin_matches_planar_kernel():
    # the NumPy fallback and helper P1's numba kernel must give the same value and run on a noisy slice
    from phantomqc.pet_spect import spect

    vol, truth = jaszczak_volume(spheres=False, counts=100.0, rng=np.random.default_rng(11))
    r = tomographic_uniformity(vol, truth["spacing_mm"])
    for m in (r.ufov_mask, r.cfov_mask):
        assert spect._differential_numpy(r.image, m, 5)[0] == pytest.approx(spect._differential(r.image, m, 5)[0],
                                                                            rel=1e-12)
