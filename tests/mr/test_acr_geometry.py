"""ACR geometric accuracy: synthetic truth (discs, ellipses, notches, rectangles) and the real series.

Synthetic objects are rendered analytically: the indicator of the object convolved with a Gaussian of SD ``s`` is
``Phi(signed distance / s)`` for a straight edge; for a circle of radius R >> s the curvature changes the
half-level point by ~ s^2 / (2 R) (0.003 mm at s = 0.8 mm, R = 95 mm), far below the 0.5 mm truth tolerance.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

from phantomqc.mr.acr_geometry import acr_lengths, sagittal_length


def _ellipse(shape, spacing, centre_px, a_mm, b_mm, *, rot_deg=0.0, blur_mm=0.8, signal=1000.0, bg=10.0,
             noise=0.0, rng=None):
    """Blurred ellipse, semi-axes a (x) and b (y) in mm, rotated clockwise on screen by rot_deg."""
    sy, sx = spacing
    rr, cc = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    y = (rr - centre_px[0]) * sy
    x = (cc - centre_px[1]) * sx
    r = math.radians(rot_deg)
    xp = x * math.cos(r) + y * math.sin(r)
    yp = -x * math.sin(r) + y * math.cos(r)
    rho = np.hypot(xp / a_mm, yp / b_mm)
    # signed distance to the ellipse, first order: (1 - rho) * |grad|^-1
    grad = np.hypot(xp / a_mm ** 2, yp / b_mm ** 2) / np.maximum(rho, 1e-9)
    d = (1.0 - rho) / np.maximum(grad, 1e-9)
    img = bg + (signal - bg) * ndtr(d / blur_mm)
    if noise:
        img = img + rng.normal(0.0, noise, img.shape)
    return img


def _chord(a, b, theta_deg):
    t = math.radians(theta_deg)
    return 2.0 / math.sqrt((math.cos(t) / a) ** 2 + (math.sin(t) / b) ** 2)


# ------------------------------------------------------------------------------------------- synthetic truth

@pytest.mark.parametrize("spacing", [(0.9765625, 0.9765625), (0.5078, 0.5078), (1.1, 0.9)])
@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.37, -0.21)])
def test_disc_diameter_subpixel(spacing, shift):
    shape = (round(250 / spacing[0]), round(250 / spacing[1]))
    c = ((shape[0] - 1) / 2 + shift[0], (shape[1] - 1) / 2 + shift[1])
    img = _ellipse(shape, spacing, c, 95.0, 95.0, noise=5.0, rng=np.random.default_rng(1))
    r = acr_lengths(img, spacing, center_px=c, angles_deg=(0, 90, 45, 135), slice_label="slice5")
    for label in ("slice5_horizontal", "slice5_vertical", "slice5_diagonal1", "slice5_diagonal2"):
        # issue 4 truth tolerance: lengths within 0.5 mm (here the sub-pixel edge is good to ~0.1 mm)
        assert r.lengths_mm[label].value == pytest.approx(190.0, abs=0.5), label
    # sub-pixel, not pixel counting: the value is not a multiple of the pixel size in general, and near 190
    assert abs(r.lengths_mm["slice5_horizontal"].value - 190.0) < 0.2


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32])
def test_ellipse_axes_and_diagonals(dtype):
    spacing = (0.9765625, 0.9765625)
    c = (127.6, 128.3)
    a, b = 96.0, 93.5  # 192 x 187 mm: a 2.5 mm distortion must show
    img = _ellipse((256, 256), spacing, c, a, b).astype(dtype)
    r = acr_lengths(img, spacing, center_px=c, angles_deg=(0, 90, 45, 135), slice_label="slice5")
    assert r.lengths_mm["slice5_horizontal"].value == pytest.approx(2 * a, abs=0.5)
    assert r.lengths_mm["slice5_vertical"].value == pytest.approx(2 * b, abs=0.5)
    # diagonals: chords of the ellipse at 45 deg (both equal for an axis-aligned ellipse)
    assert r.lengths_mm["slice5_diagonal1"].value == pytest.approx(_chord(a, b, 135), abs=0.5)
    assert r.lengths_mm["slice5_diagonal2"].value == pytest.approx(_chord(a, b, 45), abs=0.5)
    # the horizontal and vertical really differ (the formula would fail if axes were swapped)
    assert r.lengths_mm["slice5_horizontal"].value - r.lengths_mm["slice5_vertical"].value > 4.0


def test_diagonal_labels_follow_the_ellipse_rotation():
    """An ellipse whose long axis runs from bottom-left to top-right: diagonal1 is the long one."""
    spacing = (1.0, 1.0)
    c = (128.0, 128.0)
    img = _ellipse((256, 256), spacing, c, 97.0, 93.0, rot_deg=135.0)
    r = acr_lengths(img, spacing, center_px=c, angles_deg=(45, 135), slice_label="slice5")
    assert r.lengths_mm["slice5_diagonal1"].value == pytest.approx(194.0, abs=0.5)
    assert r.lengths_mm["slice5_diagonal2"].value == pytest.approx(186.0, abs=0.5)


def test_rotated_ellipse_with_rotation_argument():
    spacing = (0.9765625, 0.9765625)
    c = (128.0, 127.0)
    img = _ellipse((256, 256), spacing, c, 96.0, 94.0, rot_deg=20.0)
    r = acr_lengths(img, spacing, center_px=c, rotation_deg=20.0)
    assert r.lengths_mm["slice1_horizontal"].value == pytest.approx(192.0, abs=0.5)
    assert r.lengths_mm["slice1_vertical"].value == pytest.approx(188.0, abs=0.5)


def test_wedge_bar_notch_does_not_shorten_the_vertical():
    """Slice 1 / 11: the wedge bars run dark from the wall down at 12 o'clock; the diameter is read on the wall."""
    spacing = (0.9765625, 0.9765625)
    c = (128.0, 128.0)
    img = _ellipse((256, 256), spacing, c, 95.0, 95.0, noise=5.0, rng=np.random.default_rng(3))
    rr, cc = np.mgrid[0:256, 0:256]
    y = (rr - c[0]) * spacing[0]
    x = (cc - c[1]) * spacing[1]
    img[(np.abs(x) < 6.0) & (y < -63.0)] = 10.0  # bars 12 mm wide from the wall to 63 mm above the centre
    r = acr_lengths(img, spacing, center_px=c)
    assert r.lengths_mm["slice1_vertical"].value == pytest.approx(190.0, abs=0.5)
    assert r.lengths_mm["slice1_horizontal"].value == pytest.approx(190.0, abs=0.5)
    assert r.lines[1].used_minus.sum() < r.lines[1].used_minus.size  # the rays through the bars were rejected


def test_default_centre_is_found():
    spacing = (0.9765625, 0.9765625)
    img = _ellipse((256, 256), spacing, (130.2, 125.7), 95.0, 95.0)
    r = acr_lengths(img, spacing)
    assert r.lengths_mm["slice1_horizontal"].value == pytest.approx(190.0, abs=0.5)
    assert r.center_px == pytest.approx((130.2, 125.7), abs=0.5)


@pytest.mark.parametrize("spacing", [(0.9765625, 0.9765625), (1.0, 1.0)])
def test_sagittal_rectangle_length(spacing):
    sy, sx = spacing
    rr, cc = np.mgrid[0:256, 0:256].astype(float)
    y = (rr - 127.3) * sy
    x = (cc - 128.6) * sx
    img = 10 + 990 * ndtr((74.0 - np.abs(y)) / 0.8) * ndtr((95.0 - np.abs(x)) / 0.8)
    img[(np.abs(x - 30) < 3) & (y < -40)] = 10.0  # a slot touching the superior end
    r = sagittal_length(img, spacing)
    assert r.lengths_mm["sagittal_si"].value == pytest.approx(148.0, abs=0.5)


def test_bad_input_messages():
    from phantomqc._shared.errors import InputError
    with pytest.raises(InputError, match="spacing_mm"):
        acr_lengths(np.zeros((10, 10)), (0.0, 1.0))
    with pytest.raises(InputError, match="angle"):
        acr_lengths(_ellipse((256, 256), (1.0, 1.0), (128, 128), 95, 95), (1.0, 1.0), center_px=(128, 128),
                    angles_deg=(30,))


# ------------------------------------------------------------------------------------------- real data

def _series(realdata_dir: Path, vendor: str):
    from phantomqc.io import read_image
    ims = [read_image(p) for p in sorted((realdata_dir / "mr" / "acr" / vendor).iterdir()) if p.is_file()]

    def key(im):
        o = np.array(im.meta.image_orientation_patient, float)
        return float(np.dot(np.array(im.meta.image_position_patient, float), np.cross(o[:3], o[3:])))
    return sorted(ims, key=key)


# Where phantomqc and hazen 2.0.0 (regression values, pixel counting on a thresholded mask) differ by more than
# the 1.0 mm tolerance, the reason, with the numbers (phantomqc: sub-pixel half-maximum edges, wall read by a local
# circle fit over +-35 deg so that an insert touching the wall on the line is skipped):
KNOWN_DIFFERENCES = {
    ("Siemens", "slice1_vertical"): (
        "phantomqc 190.5 vs hazen 187.5: at 12 o'clock the wedge-bar housing is dark from the wall down (edge at "
        "88 mm from the centre on the centre column vs 93.5 mm on the visible wall either side); hazen's mask "
        "extent on the centre column stops there, phantomqc reads the wall beside it"),
    ("Siemens", "slice5_vertical"): (
        "phantomqc 190.5 vs hazen 187.5: same as slice 1 (notch at the top of slice 5 on the centre column)"),
    ("GE", "slice5_vertical"): (
        "phantomqc 190.5 vs hazen 189.41: the notch at 12 o'clock of slice 5 on the centre column (as Siemens)"),
    ("GE", "slice1_vertical"): (
        "phantomqc 190.3 vs hazen 188.9: the wedge bars at 12 o'clock (GE 512^2); hazen counts the mask on the "
        "centre column"),
    ("SiemensSolaFit", "slice5_diagonal2"): (
        "phantomqc 190.4 vs hazen 191.41 (= 196 pixels of 0.9766 mm): hazen counts the pixels of its mask rotated "
        "by 45 deg, +-1 pixel of quantisation; phantomqc's four slice-5 lengths of this series lie within 0.5 mm"),
    ("GE_Artist_1.5T_T1", "slice5_diagonal2"): (
        "phantomqc 190.2 vs hazen 191.41 (= 196 pixels of 0.9766 mm): hazen rotates the mask by 45 deg (interpolated) and counts pixels, "
        "+-1 pixel (0.98 mm) of quantisation plus the rotation's resampling; phantomqc's four slice-5 lengths of "
        "this series agree within 0.3 mm"),
}


GOLDEN_GEOMETRY = ["Siemens", "SiemensSolaFit", "GE", "GE_Artist_1.5T_T1", "PhilipsAchieva"]


@pytest.mark.parametrize("vendor", GOLDEN_GEOMETRY)
def test_real_acr_lengths_against_hazen(vendor, realdata_dir, golden_mr):
    ims = _series(realdata_dir, vendor)
    entries = [e for e in golden_mr if e["dataset"] == f"mr/acr/{vendor}" and e["method"] == "acr_geometric_accuracy"]
    assert len(entries) == 2
    r1 = acr_lengths(ims[0].pixels, ims[0].spacing_mm)
    r5 = acr_lengths(ims[4].pixels, ims[4].spacing_mm, angles_deg=(0, 90, 45, 135), slice_label="slice5")
    for e in entries:
        # source: hazen 2.0.0 output pinned in its own tests (regression values)
        if e["quantity"].startswith("slice 1"):
            labels, res = ("slice1_horizontal", "slice1_vertical"), r1
        else:
            labels = ("slice5_horizontal", "slice5_vertical", "slice5_diagonal1", "slice5_diagonal2")
            res = r5
        for label, expected in zip(labels, e["expected"]):
            ours = res.lengths_mm[label].value
            # every length must be a plausible ACR diameter whatever hazen says (190 +- 2 mm limit band)
            assert 188.0 < ours < 192.0, (label, ours)
            if (vendor, label) in KNOWN_DIFFERENCES:
                # recorded method difference, bounded: the largest documented one is 3.0 mm (Siemens vertical)
                assert abs(ours - expected) < 3.5, label
                continue
            assert ours == pytest.approx(expected, abs=e["tolerance"]["abs"]), label


def test_real_sagittal_localiser(realdata_dir, golden_mr):
    from phantomqc.io import read_image
    (e,) = [g for g in golden_mr if g["method"] == "acr_sagittal_geometric_accuracy"]
    im = read_image(next((realdata_dir / e["dataset"]).iterdir()))
    r = sagittal_length(im.pixels, im.spacing_mm, axis="rows")
    ours = r.lengths_mm["sagittal_si"].value
    # Documented difference: phantomqc 148.1 mm vs hazen 149.41 mm (= 153 pixels x 0.9766 mm). hazen counts the
    # thresholded mask's pixels along the S-I axis; a mask threshold below half maximum adds about one pixel per
    # end of the Gibbs-ringing edge. phantomqc's half-maximum crossing, fitted over 150 lines, is 148.1 mm, within
    # 0.1 mm of the phantom's nominal 148 mm inner length.
    assert ours == pytest.approx(148.0, abs=0.5)
    assert abs(ours - e["expected"]) < 1.5
