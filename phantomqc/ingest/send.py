"""Send a DICOM object to a remote Application Entity (C-STORE SCU, pynetdicom).

``phantomqc analyze ... --send-sr HOST:PORT:AE`` uses it to send the results SR back to a PACS.
"""

from __future__ import annotations

import logging
import os
from typing import NamedTuple

from phantomqc._shared.errors import InputError, PhantomQCError

__all__ = ["Destination", "parse_destination", "send_dataset"]

log = logging.getLogger(__name__)

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"


class Destination(NamedTuple):
    """A remote AE, as parsed by :func:`parse_destination`."""

    host: str
    port: int
    ae_title: str


def _check_ae_title(ae: str, what: str) -> str:
    if not ae or len(ae) > 16 or "\\" in ae or not ae.isascii() or not ae.strip():
        raise InputError(f"{what} must be 1 to 16 ASCII characters without a backslash (PS3.5 AE), got {ae!r}")
    return ae


def parse_destination(text: str) -> Destination:
    """Parse ``"HOST:PORT:AE_TITLE"`` (an IPv6 host in brackets: ``"[::1]:104:PACS"``).

    Parameters
    ----------
    text : str
        The destination as the command line gives it.

    Returns
    -------
    Destination
        ``(host, port, ae_title)``.

    Raises
    ------
    InputError
        Not three fields, a port that is not an integer in 1..65535, or an AE title that is not 1 to 16
        ASCII characters.

    Examples
    --------
    >>> parse_destination("pacs.local:11112:ORTHANC")
    ('pacs.local', 11112, 'ORTHANC')
    """
    raw = str(text).strip()
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        rest = rest[1:] if rest.startswith(":") else None
        parts = [host] + (rest.split(":", 1) if rest is not None and sep else [])
    else:
        parts = raw.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise InputError(f"the destination must be HOST:PORT:AE_TITLE (e.g. pacs.local:11112:ORTHANC), got "
                         f"{text!r}")
    host, port_s, ae = (p.strip() for p in parts)
    try:
        port = int(port_s)
    except ValueError:
        raise InputError(f"the port of the destination {text!r} must be an integer, got {port_s!r}") from None
    if not 1 <= port <= 65535:
        raise InputError(f"the port of the destination {text!r} must be in 1..65535, got {port}")
    return Destination(host, port, _check_ae_title(ae, f"the AE title of the destination {text!r}"))


def _read(path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise InputError(f"cannot read the DICOM file to send: {exc}", path=path) from None


def send_dataset(ds, host: str, port: int, ae_title: str, *, calling_ae: str = "PHANTOMQC",
                 timeout: float = 30) -> int:
    """C-STORE ``ds`` to the AE ``ae_title`` at ``host:port``; return the C-STORE response status.

    Parameters
    ----------
    ds : pydicom.Dataset or path
        The object to send, or its file (its SOP Class UID and SOP Instance UID are required). It is sent in
        its own transfer syntax when that is Explicit or Implicit VR Little Endian.
    host, port, ae_title
        The called AE.
    calling_ae : str, optional
        Our AE title. Default ``PHANTOMQC``.
    timeout : float, optional
        Seconds for the connection, the association and each response. Default 30.

    Returns
    -------
    int
        The (0000,0900) Status of the C-STORE response: 0x0000 success, 0xB000/0xB007/0xB006 warnings,
        anything else a failure (PS3.4 Annex B.2.3). The caller decides what a warning means.

    Raises
    ------
    PhantomQCError
        The association was rejected or aborted, the peer did not answer in ``timeout`` seconds, or it has
        no presentation context for the object's SOP Class.
    InputError
        The dataset has no (0008,0016) SOP Class UID or (0008,0018) SOP Instance UID.
    """
    from pynetdicom import AE

    if isinstance(ds, (str, os.PathLike)):
        ds = _read(ds)
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if not sop_class or not ds.get("SOPInstanceUID"):
        raise InputError("the dataset to send has no (0008,0016) SOP Class UID or (0008,0018) SOP Instance UID")
    _check_ae_title(calling_ae, "the calling AE title")
    _check_ae_title(ae_title, "the called AE title")
    meta = getattr(ds, "file_meta", None)
    own_ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    syntaxes = [own_ts] if own_ts in (_EXPLICIT_LE, _IMPLICIT_LE) else [_EXPLICIT_LE, _IMPLICIT_LE]
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = float(timeout)
    ae.connection_timeout = float(timeout)
    ae.add_requested_context(sop_class, syntaxes)
    where = f"{ae_title}@{host}:{port}"
    assoc = ae.associate(host, int(port), ae_title=ae_title)
    if not assoc.is_established:
        why = ("rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established")
        raise PhantomQCError(f"the association with {where} was {why}: check the host, the port and that "
                             f"{where} knows the calling AE title {calling_ae!r}")
    try:
        if not assoc.accepted_contexts:
            raise PhantomQCError(f"{where} accepts no presentation context for SOP Class {sop_class} in "
                                 f"{', '.join(syntaxes)}: configure it to store this SOP Class")
        status = assoc.send_c_store(ds)
    finally:
        if assoc.is_established:
            assoc.release()
    if status is None or "Status" not in status:
        raise PhantomQCError(f"{where} gave no C-STORE response within {timeout} s (timeout, or the association "
                             f"was aborted)")
    code = int(status.Status)
    log.info("C-STORE of %s to %s: status 0x%04X", ds.SOPInstanceUID, where, code)
    return code
