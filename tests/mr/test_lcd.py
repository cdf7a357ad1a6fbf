"""ACR low-contrast detectability (phantomqc.mr.lcd): synthetic truth, statistical calibration, real data.

The synthetic LCD slice: the phantom (S = 1000 inside 95 mm) with the LCD sheet's thin dark edge ring
(0.6 S at 43.5-44.5 mm) and the 30 disks of ``phantomqc.mr.geometry`` at (1 + c) S, drawn with 4 x 4 sub-pixel
sampling (partial volume), the spoke pattern centred 7 mm below and 1 mm left of the phantom axis (as on the real
images, where it lies 6-9 mm below), at a known spoke-1 angle; Gaussian or Rician noise of known sigma.
"""

from __future__ import annotations

import functools
import glob
import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

from phantomqc._shared.errors import InputError
from phantomqc.mr.geometry import ACR_LARGE
from phantomqc.mr.lcd import SHEET_STEP_DEG, acr_lcd, acr_lcd_series, acr_lcd_total, lcd_panels

S = 1000.0
SP = 0.9766
LCD_OFFSET_MM = (7.0, -1.0)  # (down, right) of the phantom axis


def _phantom_center(shape):
    return ((shape - 1) / 2 + 0.3, (shape - 1) / 2 - 0.2)


@functools.lru_cache(maxsize=32)
def _clean(contrast_percent, angle_deg, *, shape=256, spacing=SP, spokes=10, direction=1):
    """Noise-free LCD slice (see the module docstring) and its truth (LCD centre px)."""
    pr, pc = _phantom_center(shape)
    lr, lc = pr + LCD_OFFSET_MM[0] / spacing, pc + LCD_OFFSET_MM[1] / spacing
    n = 4
    sub = (np.arange(n) + 0.5) / n - 0.5
    r = (np.arange(shape)[:, None] + sub[None, :]).ravel()
    yy = ((r - lr) * spacing)[:, None]
    xx = ((r - lc) * spacing)[None, :]
    ypp = ((r - pr) * spacing)[:, None]
    xpp = ((r - pc) * spacing)[None, :]
    img = np.where(ypp ** 2 + xpp ** 2 <= 95.0 ** 2, S, 0.0)
    rho2 = yy ** 2 + xx ** 2
    img = np.where((rho2 >= 43.5 ** 2) & (rho2 <= 44.5 ** 2), 0.6 * S, img)
    c = contrast_percent / 100.0
    for i, d in enumerate(ACR_LARGE.lcd_diameters_mm[:spokes]):
        a = math.radians(angle_deg + direction * 36.0 * i)
        for rad in ACR_LARGE.lcd_disk_radii_mm:
            dy, dx = rad * math.sin(a), rad * math.cos(a)
            img = np.where((yy - dy) ** 2 + (xx - dx) ** 2 <= (d / 2) ** 2, (1 + c) * S, img)
    img = img.reshape(shape, n, shape, n).mean(axis=(1, 3))
    return img, (lr, lc)


def _noisy(clean, sigma, seed, *, rician=False, smooth_px=0.0):
    rng = np.random.default_rng(seed)
    n1 = rng.normal(size=clean.shape)
    if smooth_px > 0:  # correlated noise of the same pixel SD
        n1 = ndimage.gaussian_filter(n1, smooth_px)
        n1 /= n1.std()
    if rician:
        n2 = rng.normal(size=clean.shape)
        return np.hypot(clean + sigma * n1, sigma * n2)
    return clean + sigma * n1


def _angle_error(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("angle", [0.0, 37.3, 123.4, -90.0, 250.7])
def test_high_cnr_counts_ten_at_any_rotation_and_recovers_the_angle(angle):
    clean, (lr, lc) = _clean(5.1, angle)
    img = _noisy(clean, 5.0, 1)  # 1.5 mm disk: C ~ 0.5 x 51, sigma_C ~ 5 x sqrt(1/1.8 + 1/40) ~ 3.8: z ~ 7
    res = acr_lcd(img, (SP, SP), center_px=_phantom_center(256), slice_number=11)
    assert res.spokes.value == 10 and res.label == "slice11"
    assert all(res.spokes_complete)
    # the angle: the template fit is precise to ~0.05 deg at this CNR; 1 deg is the brief's requirement
    assert _angle_error(res.spoke1_angle_deg, angle) < 1.0
    # the pattern centre (7 mm from center_px) to 0.3 mm (a third of a pixel)
    assert math.hypot((res.center_px[0] - lr) * SP, (res.center_px[1] - lc) * SP) < 0.3
    assert res.direction == 1 and not res.warnings
    assert res.disks[0].contrast_percent == pytest.approx(5.1 * res.parameters["diameters_mm"][0] / 7.0, rel=0.25)


def test_rician_noise_and_uint16_and_fine_pixels():
    clean, _ = _clean(5.1, 200.0, shape=512, spacing=SP / 2)
    img = np.round(_noisy(clean, 8.0, 2, rician=True)).astype(np.uint16)
    res = acr_lcd(img, (SP / 2, SP / 2), center_px=_phantom_center(512), contrast_percent=5.1)
    assert res.spokes.value == 10
    assert _angle_error(res.spoke1_angle_deg, 200.0) < 1.0


def test_mirrored_image_is_recognised():
    clean, _ = _clean(5.1, 60.0, direction=-1)
    res = acr_lcd(_noisy(clean, 5.0, 3), (SP, SP), center_px=_phantom_center(256))
    assert res.direction == -1 and res.spokes.value == 10
    assert any("mirrored" in w for w in res.warnings)


def test_angle_prior_and_handedness_options():
    """At low CNR (1.4 %, sigma 15: the 7 mm disks at z ~ 4) the prior keeps the fit on the pattern: the angle
    within 1 deg, the handedness the as-built one, and a prior 4 deg off is corrected."""
    clean, _ = _clean(1.4, 140.0)
    img = _noisy(clean, 15.0, 7)
    res = acr_lcd(img, (SP, SP), center_px=_phantom_center(256), spoke1_angle_deg=144.0, mirrored=False)
    assert res.direction == 1
    assert _angle_error(res.spoke1_angle_deg, 140.0) < 1.0
    assert res.parameters["spoke1_angle_prior_deg"] == 144.0
    mir = acr_lcd(img, (SP, SP), center_px=_phantom_center(256), mirrored=True)
    assert mir.direction == -1 and mir.spokes.value <= 1  # the wrong handedness finds (almost) nothing


@pytest.mark.parametrize("theta", [-90.0, 33.0])
def test_series_fit_recovers_every_slice_angle_at_low_cnr(theta):
    """Four slices at the ACR contrasts with the pattern turned 9 deg per slice, sigma 20 (slice 8: the 7 mm
    disks at z ~ 4): the joint angle search puts every slice within 1 deg, and each count equals that of acr_lcd
    given the true angle."""
    center = _phantom_center(256)
    imgs, truth = [], []
    for i, (k, c) in enumerate(zip((8, 9, 10, 11), ACR_LARGE.lcd_contrast_percent)):
        ang = theta + SHEET_STEP_DEG * i
        imgs.append(_noisy(_clean(c, ang)[0], 20.0, 300 + i))
        truth.append(ang)
    res = acr_lcd_series(imgs, (SP, SP), center_px=center)
    assert [r.label for r in res] == ["slice8", "slice9", "slice10", "slice11"]
    for r, ang, img, k in zip(res, truth, imgs, (8, 9, 10, 11)):
        assert _angle_error(r.spoke1_angle_deg, ang) < 1.0 and r.direction == 1
        ref = acr_lcd(img, (SP, SP), center_px=center, slice_number=k, spoke1_angle_deg=ang, mirrored=False)
        assert r.spokes.value == ref.spokes.value
    with pytest.raises(InputError, match="slice_numbers"):
        acr_lcd_series(imgs[:3], (SP, SP), center_px=center)


@pytest.mark.parametrize("k", [1, 4, 7])
def test_disks_removed_beyond_spoke_k_count_k(k):
    clean, _ = _clean(5.1, 15.0, spokes=k)
    res = acr_lcd(_noisy(clean, 5.0, 4), (SP, SP), center_px=_phantom_center(256))
    assert res.spokes.value == k
    assert res.spokes_complete[:k] == (True,) * k and not res.spokes_complete[k]
    # the absent disks are noise: their z is N(0, 1) (|z| < 4.5 for all <= 27 of them, p ~ 2e-4)
    assert all(abs(d.z) < 4.5 for d in res.disks if d.spoke > k)


@pytest.mark.parametrize("smooth_px", [0.0, 1.0])
def test_disk_statistic_is_calibrated_z_noise_has_unit_sd(smooth_px):
    """(C_noisy - C_clean) / sigma_C must be N(0, 1): pooled over 30 disks x 8 seeds = 240 values its SD is
    within 1 +- 0.15 (3.3 x the SE 1/sqrt(2 x 240) = 0.046). With correlated noise (Gaussian-smoothed, lag-1
    correlation ~0.78) a sigma_C that ignored the correlation would be ~2x too small and fail this."""
    clean, _ = _clean(3.6, 33.0)
    ref = acr_lcd(clean, (SP, SP), center_px=_phantom_center(256))
    c_clean = np.array([d.contrast for d in ref.disks])
    zs = []
    for seed in range(8):
        res = acr_lcd(_noisy(clean, 15.0, 100 + seed, smooth_px=smooth_px), (SP, SP),
                      center_px=_phantom_center(256))
        zs.append((np.array([d.contrast for d in res.disks]) - c_clean) / np.array([d.sigma_c for d in res.disks]))
        # the stationary model describes this noise: the measured scale is 1 within the spread of an RMS over
        # ~60 overlapping placements (~30 independent: SE ~0.13, 2.5 SE)
        assert 0.7 < res.sigma_scale < 1.3, res.sigma_scale
    zs = np.concatenate(zs)
    assert 0.85 < zs.std() < 1.15, zs.std()
    assert abs(zs.mean()) < 0.25  # 5 SE: the template fit pulls the large disks by < 0.1 sigma


def test_count_is_monotonic_non_increasing_as_noise_grows():
    """With common random numbers (the same N(0, 1) field scaled by sigma) every disk's z = C0 / sigma_C +
    n / s falls as sigma grows (C0 > 0 the noise-free contrast, sigma_C proportional to sigma), and the
    Benjamini-Hochberg rejections shrink when all p-values grow; so the count can only fall, up to the template
    fit moving with the noise. Averaged over 6 seeds, the mean count must not increase (tolerance 0.2: one
    seed's fit changing a count by 1 moves the mean by 1/6), and it must fall from ~10 to <= 3 (not flat)."""
    clean, _ = _clean(1.4, 77.0)
    sigmas = [3.0, 6.0, 9.0, 12.0, 18.0]
    means = []
    for s in sigmas:
        counts = [acr_lcd(_noisy(clean, s, 200 + seed), (SP, SP), center_px=_phantom_center(256)).spokes.value
                  for seed in range(6)]
        means.append(float(np.mean(counts)))
    assert means[0] >= 9.5 and means[-1] <= 3.0, means
    assert all(b <= a + 0.2 for a, b in itertools.pairwise(means)), means


def test_total_and_panels():
    clean, _ = _clean(5.1, 10.0)
    img = _noisy(clean, 5.0, 5)
    res = [acr_lcd(img, (SP, SP), center_px=_phantom_center(256), slice_number=k) for k in (8, 9)]
    assert acr_lcd_total(res).value == 20.0
    assert res[0].label == "slice8" and res[0].parameters["contrast_percent_nominal"] == 1.4
    (panel,) = lcd_panels(res[0], img, (SP, SP))
    assert len(panel.overlays) == 31
    # cropped to the LCD region with a 15 % margin: every disk inside the panel, the region's outline too
    h, w = panel.image.shape
    assert h < img.shape[0] and w < img.shape[1]
    assert all(0 <= o.row < h and 0 <= o.col < w for o in panel.overlays)
    region = panel.overlays[-1]
    assert region.row - region.radius >= 0 and region.row + region.radius <= h
    with pytest.raises(InputError):
        acr_lcd_total([])


def test_invalid_inputs_are_refused_with_the_parameter_named():
    img = np.zeros((64, 64))
    with pytest.raises(InputError, match="2-D"):
        acr_lcd(np.zeros((2, 64, 64)), (1.0, 1.0), center_px=(32, 32))
    with pytest.raises(InputError, match="spacing_mm"):
        acr_lcd(img, (0.0, 1.0), center_px=(32, 32))
    with pytest.raises(InputError, match="center_px"):
        acr_lcd(img, (1.0, 1.0), center_px=(100, 32))
    with pytest.raises(InputError, match="alpha"):
        acr_lcd(img, (1.0, 1.0), center_px=(32, 32), alpha=1.5)
    with pytest.raises(InputError, match="slice_number"):
        acr_lcd(img, (1.0, 1.0), center_px=(32, 32), slice_number=7)


def _load_series(folder):
    from phantomqc.io import read_image

    ims = [read_image(p) for p in sorted(glob.glob(str(folder / "*")))]
    o = np.array(ims[0].meta.image_orientation_patient, dtype=float)
    normal = np.cross(o[:3], o[3:])
    ims.sort(key=lambda im: float(np.dot(np.array(im.meta.image_position_patient, dtype=float), normal)))
    return ims


def _analyse(folder):
    from phantomqc.mr.localize import find_phantom

    ims = _load_series(folder)
    sl = [ims[k - 1] for k in (8, 9, 10, 11)]
    centres = [find_phantom(im.pixels, im.spacing_mm).center_px for im in sl]
    return list(acr_lcd_series([im.pixels for im in sl], sl[0].spacing_mm, center_px=centres))


@pytest.mark.parametrize("dataset", ["mr/acr/Siemens", "mr/acr/GE"])
def test_real_acr_series_without_golden_analyse_consistently(dataset, realdata_dir):
    """No golden LCD value for these; they must analyse without warnings, with the pattern found 9 deg apart on
    the four slices (the 512^2 GE series included: there the whole-circle search of slice 11 alone lands one spoke
    off, at -27.7 deg instead of -63.4; the joint series fit does not). Counts recorded for regression: Siemens
    [10, 10, 10, 10], GE 512^2 [0, 2, 8, 10] (a noisier acquisition: pixel SNR ~40, background ~2000 over a
    noise SD ~50, against ~140 on the 256^2 GE Artist series, and 4x smaller pixels)."""
    results = _analyse(realdata_dir / dataset)
    angles = [r.spoke1_angle_deg for r in results]
    assert all(abs((b - a) % 360.0 - 9.0) < 1.0 for a, b in itertools.pairwise(angles)), angles
    assert all(not r.warnings for r in results)
    expected = {"mr/acr/Siemens": [10, 10, 10, 10], "mr/acr/GE": [0, 2, 8, 10]}[dataset]
    assert [int(r.spokes.value) for r in results] == expected


#: Where our count differs from hazen's by more than the golden tolerance: (dataset, slice) -> (our count, the
#: limiting disk (spoke, index 1..3 from the centre) and its z). Both are low-CNR slice-8 disks that our test
#: measures well below the nominal 1.4 % contrast and calls not significant even WITHOUT a multiplicity correction
#: (p > alpha = 0.0125), while hazen 2.0.0 (Golestani & Gee's GLM on a 90-sample radial profile through the disk,
#: bilinear samples at 0.49 mm on ~0.98 mm pixels, a 3-tap moving average, samples treated as independent) calls
#: them detected. The method difference: our z divides by the noise SD of the same 2-D statistic (noise
#: autocovariance model, scaled by the spread measured at disk-free positions of the slice) and is calibrated
#: (unit SD on synthetic white and correlated noise, tested above); a profile GLM whose residuals are correlated by
#: the oversampling and the smoothing has standard errors that are too small, so it calls weaker disks.
#: Recorded, not tuned:
#:   GE slice 8: spoke 7 inner disk z = 2.13 (p = 0.016; measured contrast 0.60 % against the nominal 1.4 %, its
#:     expected z at the nominal contrast 3.8); the BH cut of the slice is z >= 2.61. Spoke 8 is complete, 9 not,
#:     so hazen's 8 = spokes 1-8 with spoke 7 detected.
#:   Siemens slice 8: spoke 8 inner disk z = 1.97 (p = 0.025; measured 0.45 %, expected z 4.7); BH cut z >= 3.02.
KNOWN_DIFFERENCES = {
    ("mr/acr/GE_Artist_1.5T_T1", 8): (6, (7, 1), 2.13),
    ("mr/acr/SiemensSolaFit", 8): (7, (8, 1), 1.97),
}


@pytest.mark.parametrize("dataset", ["mr/acr/GE_Artist_1.5T_T1", "mr/acr/SiemensSolaFit", "mr/acr/PhilipsAchieva"])
def test_real_acr_lcd_against_golden(dataset, realdata_dir, golden_mr):
    """golden.json: hazen 2.0.0 output pinned in its own tests (a regression value, not an independent
    reference); tolerance 1 spoke per slice, 2 in total. Ours: GE [6, 10, 10, 10] (36; hazen 38), Siemens SolaFit
    [7, 10, 10, 10] (37; 37), Philips Achieva [10, 10, 10, 10] (40; 40)."""
    entries = [e for e in golden_mr if e["dataset"] == dataset
               and e["method"] == "acr_low_contrast_object_detectability"]
    assert len(entries) == 1
    entry = entries[0]
    results = _analyse(realdata_dir / dataset)
    ours = [int(r.spokes.value) for r in results]
    # the same pattern is found on every slice: the four sheets are 9 deg apart about one centre
    angles = [r.spoke1_angle_deg for r in results]
    steps = [(b - a) % 360.0 for a, b in itertools.pairwise(angles)]
    assert all(abs(st - 9.0) < 1.0 for st in steps), angles
    # ... and the pattern centre moves < 3 mm over the 30 mm from slice 8 to 11 (a tilt of the phantom < 6 deg;
    # Philips: 1.7 mm)
    centres = np.array([r.center_px for r in results]) * np.array(results[0].parameters["spacing_mm"])
    assert np.ptp(centres, axis=0).max() < 3.0, centres
    assert all(r.direction == 1 and not r.warnings for r in results)
    for k, (o, e, r) in enumerate(zip(ours, entry["expected"], results), start=8):
        if abs(o - e) <= entry["tolerance"]["abs_each"]:
            assert (dataset, k) not in KNOWN_DIFFERENCES, (dataset, k, o)
            continue
        known = KNOWN_DIFFERENCES.get((dataset, k))
        assert known is not None, f"{dataset} slice {k}: ours {o}, hazen {e}: undocumented difference"
        count, (spoke, index), z = known
        assert o == count
        disk = next(d for d in r.disks if d.spoke == spoke and d.index == index)
        assert not disk.detected and disk.z == pytest.approx(z, abs=0.15)
        assert disk.p_value > r.alpha  # not significant even uncorrected
    total = int(acr_lcd_total(results).value)
    assert abs(total - sum(entry["expected"])) <= entry["tolerance"]["abs_total"], (ours, entry["expected"])


def test_noise_model_scale_on_real_slices(realdata_dir):
    """kappa (the RMS model z of the statistic at ~60 disk-free placements) shows how well the stationary noise
    model describes each real slice: GE and Siemens (near-white noise, lag-1 correlation < 0.4) within 0.8-1.2
    (the placements overlap: ~30 independent, SE of an RMS ~0.13); the Philips slices 8-9 hold broad background
    structure that the model overrates (kappa 0.56 and 0.73, so sigma_C is scaled down, not left 1.8x too
    large). Every slice must have enough placements to be scaled."""
    from phantomqc.mr.localize import find_phantom

    kappas = {}
    for ds in ("mr/acr/GE_Artist_1.5T_T1", "mr/acr/SiemensSolaFit", "mr/acr/PhilipsAchieva"):
        ims = _load_series(realdata_dir / ds)
        for k in (8, 9, 10, 11):
            im = ims[k - 1]
            r = acr_lcd(im.pixels, im.spacing_mm, center_px=find_phantom(im.pixels, im.spacing_mm).center_px)
            assert r.n_null_placements >= 50
            kappas[(ds, k)] = r.sigma_scale
    for (ds, k), kap in kappas.items():
        if "Philips" in ds:
            assert 0.45 < kap < 1.2, (ds, k, kap)
        else:
            assert 0.8 < kap < 1.2, (ds, k, kap)
    assert kappas[("mr/acr/PhilipsAchieva", 8)] < 0.7


# ---- the ACR twin (reference_phantoms.mr): series fit and the statistical truth ------------------------------------

def _twin_counts(**kw):
    from phantomqc.mr.localize import acr_slices
    from reference_phantoms.mr import acr_volume

    t = acr_volume(**kw)
    sm = acr_slices(t.images, t.spacing_mm)
    res = acr_lcd_series([t.images[sm.slice_index(k)] for k in (8, 9, 10, 11)], t.spacing_mm,
                         center_px=[sm.circle(k).center_px for k in (8, 9, 10, 11)])
    truth = {e["label"]: int(e["value"]) for e in t.expected if e["id"] == "mr.lcd.spokes"}
    return [int(r.spokes.value) for r in res], [truth[f"slice{k}"] for k in (8, 9, 10, 11)], truth["total"], res


@pytest.mark.parametrize(("matrix", "rotation", "shift"), [(256, -3.0, (7.0, -5.0)), (512, 2.5, (0.0, 0.0))])
def test_twin_series_high_cnr_counts_ten_on_every_slice(matrix, rotation, shift):
    """At CNR far above the threshold every disk is detected: 10 on each slice, as the truth says. Slice 11 of the
    twin carries the wedge bars inside the LCD disc; fitted alone its centre drifted 1.1-1.6 px (or to another
    optimum, 0 spokes), so the series shares one pattern (centre offset from the phantom centre, angle, their
    slopes per slice) and each slice keeps only a +-0.16 mm / deg residual. Checked off-line on all 36 variants
    (matrix 256/512, rotation -3/0/2.5, shift 0/(7,-5), seeds 0-2): 10 everywhere."""
    counts, truth, total, res = _twin_counts(matrix=matrix, snr=2000, lcd_contrast_scale=3.0, rotation_deg=rotation,
                                             shift_mm=shift)
    assert counts == [10, 10, 10, 10] == truth and total == 40
    # the fitted LCD centre against the drawn one (geometry: 6.5 mm below the phantom centre, turned with it):
    # slices 8-10 within 0.25 mm; slice 11 within 1 mm (its wedge bars still pull it by 0.7-0.9 mm, through the
    # centre slope the series fit allows for the real series' drift of up to 0.8 mm from slice 8 to 11)
    h = 250.0 / matrix
    a = math.radians(rotation)
    true = np.array([(matrix - 1) / 2 + shift[1] / h + 6.5 * math.cos(a) / h,
                     (matrix - 1) / 2 + shift[0] / h - 6.5 * math.sin(a) / h])
    err = [math.hypot(*((np.array(r.center_px) - true) * h)) for r in res]
    assert max(err[:3]) < 0.25 and err[3] < 1.0, err


@pytest.mark.parametrize("matrix", [256, 512])
def test_twin_moderate_cnr_against_the_statistical_truth(matrix):
    """The truth (reference_phantoms.mr.lcd_spokes_truth) applies the analyzer's rule (BH at alpha over the 30
    disks, consecutive complete spokes) to the EXPECTED z of each disk; the observed z = expected + N(0, 1), so a
    disk near the BH cut (z ~ 2.5-3) flips either way, and a count, the first failing spoke, is a minimum over up
    to 30 such disks: noise lowers it more often than it raises it. Per slice: the count may exceed the truth by
    at most 1 (one spoke's 3 disks all pushed above the cut). At 512^2 (z >= 4.5 for every disk of slices 9-11,
    slice 8's spoke 10 at ~3.4) within 1 per slice and 2 in total. At 256^2, slice 8's spokes 4-8 sit at
    z 3.5-5, so one of their 15-24 disks falls below the cut in most realisations (seed 0: 5 against 8); slices
    9-11 within 1. The N/2 ghost is off: the truth's noise is white, while the default 2 % ghost puts a 2 %-of-S
    edge of the phantom's ghost across the LCD disc (x = +-30 mm), structure the analyzer partly takes as noise
    (slice 8 at 256^2: 4 instead of 8; reported, not tuned). The twin's k-space truncation also rings (Gibbs, up
    to +-5 % of S) inside the LCD disc next to its plastic ring, where the outer disks sit: on slice 10 at 256^2
    the outer disks of spokes 8 and 10 have a mean z of 6.4 and 2.1 over 10 seeds against 7.6 and 3.8 in the
    white-noise model, so spoke 10 is complete in 42 % of 24 seeds against 80 % in the model. The model, not
    the analyzer, leaves the ringing out; real images ring too."""
    counts, truth, total, _ = _twin_counts(matrix=matrix, ghost_ratio=0.0)
    assert all(c <= t + 1 for c, t in zip(counts, truth)), (counts, truth)
    if matrix == 512:
        assert all(abs(c - t) <= 1 for c, t in zip(counts, truth)), (counts, truth)
        assert abs(sum(counts) - total) <= 2, (counts, truth)
    else:
        assert all(abs(c - t) <= 1 for c, t in zip(counts[1:], truth[1:])), (counts, truth)
        # Slice 8 against the count's distribution under noise (the same rule on expected z + N(0, 1), 4000 draws):
        # mean 6.7, SD 1.2 at 256^2. Over 24 seeds the analyzer gave a mean of 6.42 (SE 0.24), consistent.
        # The seed must fall inside the distribution's central 98 %.
        from reference_phantoms.mr import acr_volume, lcd_spokes_distribution

        p = acr_volume(matrix=matrix, ghost_ratio=0.0).parameters
        dist = lcd_spokes_distribution(p["noise_sigma"], p["lcd_signal"], p["spacing_mm"], p["lcd_contrast_scale"])
        lo, hi = np.percentile(dist[8], (1, 99))
        assert lo <= counts[0] <= hi, (counts[0], lo, hi)
