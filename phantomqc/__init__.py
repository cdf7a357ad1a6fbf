"""phantomqc: DICOM image-quality measurement for phantom acceptance and constancy tests.

The package is layered (see DESIGN.md): ``io`` reads DICOM, the modality packages (``dr``, ``ct``,
``mr``, ``pet_spect``) measure, ``standards`` judges, ``report`` writes. Importing the top-level
package is cheap: nothing heavy is imported here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
