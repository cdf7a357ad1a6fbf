"""ACR slice position: wedge-bar length difference (synthetic truth and the real series)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

from phantomqc.mr.slice_position import acr_slice_position


def _bars(len_left, len_right, *, spacing=(0.9765625, 0.9765625), n=256, shift=(0.35, -0.2), rot_deg=0.0,
          blur_mm=0.7, noise=3.0, seed=0, gap_mm=0.6, width_mm=5.5):
    """Disc of 190 mm with two dark bars from the wall (y = -95 mm) down: lengths len_left / len_right (mm).

    Rendered analytically: a Gaussian-blurred rectangle is the product of three normal CDFs (its sides), the
    blurred disc the normal CDF of the distance to the circle (R >> blur), so the bar ends are not quantised to
    the pixel grid."""
    sy, sx = spacing
    c = ((n - 1) / 2 + shift[0], (n - 1) / 2 + shift[1])
    rr, cc = np.mgrid[0:n, 0:n].astype(float)
    X, Y = (cc - c[1]) * sx, (rr - c[0]) * sy
    r = math.radians(rot_deg)
    x = math.cos(r) * X + math.sin(r) * Y
    y = -math.sin(r) * X + math.cos(r) * Y
    s = blur_mm
    disc = ndtr((95.0 - np.hypot(x, y)) / s)
    bar_l = ndtr((x + gap_mm / 2 + width_mm) / s) * ndtr((-gap_mm / 2 - x) / s) * ndtr((-95.0 + len_left - y) / s)
    bar_r = ndtr((x - gap_mm / 2) / s) * ndtr((gap_mm / 2 + width_mm - x) / s) * ndtr((-95.0 + len_right - y) / s)
    img = 10.0 + 990.0 * disc * (1.0 - bar_l - bar_r)
    return img + np.random.default_rng(seed).normal(0.0, noise, img.shape), c


@pytest.mark.parametrize("ll,lr", [(30.0, 30.0), (30.0, 33.0), (32.5, 28.0), (29.0, 29.4)])
@pytest.mark.parametrize("spacing,n", [((0.9765625, 0.9765625), 256), ((0.5078, 0.5078), 512)])
def test_bar_difference_truth(ll, lr, spacing, n):
    img, c = _bars(ll, lr, spacing=spacing, n=n)
    r = acr_slice_position(img, spacing, center_px=c)
    # issue 4 truth tolerance for slice position: 0.3 mm. Sign: right minus left.
    assert r.bar_difference_mm.value == pytest.approx(lr - ll, abs=0.3)
    # lengths run from the wall beside the pair (profiles 4 to 10 mm outside the bars, centred at |x| = 13.1 mm):
    # on a round phantom that wall lies sqrt(95^2 - 13.1^2) = 94.09 mm above the centre, 0.91 mm below the apex
    # where these synthetic bars start (the real ACR top is flat there)
    off = 95.0 - math.sqrt(95.0 ** 2 - 13.1 ** 2)
    assert r.left.length_mm.value == pytest.approx(ll - off, abs=0.3)
    assert r.right.length_mm.value == pytest.approx(lr - off, abs=0.3)


def test_bar_difference_rotated_with_rotation_argument():
    img, c = _bars(28.0, 31.0, rot_deg=3.0)
    r = acr_slice_position(img, (0.9765625, 0.9765625), center_px=c, rotation_deg=3.0)
    assert r.bar_difference_mm.value == pytest.approx(3.0, abs=0.3)


def test_bar_difference_default_centre_uint16():
    img, _c = _bars(31.0, 29.0)
    r = acr_slice_position(np.clip(img, 0, None).astype(np.uint16), (0.9765625, 0.9765625))
    assert r.bar_difference_mm.value == pytest.approx(-2.0, abs=0.3)


def test_no_bars_is_an_error():
    from phantomqc._shared.errors import PhantomNotFoundError
    img, c = _bars(0.0, 0.0)
    with pytest.raises(PhantomNotFoundError, match="wedge bars"):
        acr_slice_position(img, (0.9765625, 0.9765625), center_px=c)


# ------------------------------------------------------------------------------------------- real data

def _series(realdata_dir: Path, vendor: str):
    from phantomqc.io import read_image
    ims = [read_image(p) for p in sorted((realdata_dir / "mr" / "acr" / vendor).iterdir()) if p.is_file()]

    def key(im):
        o = np.array(im.meta.image_orientation_patient, float)
        return float(np.dot(np.array(im.meta.image_position_patient, float), np.cross(o[:3], o[3:])))
    return sorted(ims, key=key)


@pytest.mark.parametrize("vendor", ["Siemens", "GE", "PhilipsAchieva", "SiemensSolaFit"])
def test_real_bar_difference_against_hazen(vendor, realdata_dir, golden_mr):
    (e,) = [g for g in golden_mr if g["dataset"] == f"mr/acr/{vendor}" and g["method"] == "acr_slice_position"]
    ims = _series(realdata_dir, vendor)
    ours = [acr_slice_position(ims[k].pixels, ims[k].spacing_mm).bar_difference_mm.value for k in (0, 10)]
    for label, o, expected in zip(("slice1", "slice11"), ours, e["expected"]):
        # source: hazen 2.0.0 output pinned in its own tests (regression values)
        if vendor == "GE" and label == "slice11":
            # Documented difference: hazen 4.47 mm, phantomqc 0.35 mm. On this 512^2 series both bars end on the
            # same row (their lower ends at y = -63.1 and -62.7 mm from the centre; visible in the image as one
            # straight dark-to-bright transition across the pair, as on slice 1 where hazen gets 0.51). hazen
            # locates the bars' rows with the object's west point instead of its north point (y_locs = w_point + ...)
            # and matches the profiles by a circular shift over +-10 pixels, which on 512^2 pixels can lock onto
            # the blurred 5 mm transition zone; its 4.47 is not supported by the image.
            assert abs(o) < 1.0
            continue
        assert o == pytest.approx(expected, abs=e["tolerance"]["abs"]), label
