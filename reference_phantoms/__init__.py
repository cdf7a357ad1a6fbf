"""Digital phantoms with exact ground truth, written as real DICOM series with a truth.json and a manifest.

``PHANTOMS`` maps a phantom kind (as used by ``phantomqc phantoms make KIND --out DIR``) to its maker,
``maker(out_dir, **options) -> Path`` (the manifest written).
"""

from .ct import CT_PHANTOMS
from .dr import DR_PHANTOMS
from .mr import MR_PHANTOMS
from .nm_suite import NM_PHANTOMS

PHANTOMS = {**DR_PHANTOMS, **CT_PHANTOMS, **MR_PHANTOMS, **NM_PHANTOMS}

__all__ = ["PHANTOMS", "DR_PHANTOMS", "CT_PHANTOMS", "MR_PHANTOMS", "NM_PHANTOMS"]
