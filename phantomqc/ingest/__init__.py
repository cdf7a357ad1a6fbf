"""Ingestion and execution at scale: folder watch, DICOM storage SCP and the executors that run analyses."""
