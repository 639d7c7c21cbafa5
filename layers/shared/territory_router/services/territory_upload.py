"""An admin uploaded a territory file to ``territories/``: validate, compile, store a version, maybe activate.

A rejected upload is stored (report + map, so the admin can see why) but never replaces the live set.
Retried S3 events are harmless: the version id comes from the object's time and content, so a retry finds
its version and only finishes what is missing (activation of a valid version that was never activated).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from territory_router.adapters.territory_store import (
    STATUS_VALID,
    ActivationConflict,
    TerritoryStore,
    TerritoryVersion,
    new_version_id,
)
from territory_router.territories.report import Issue, Severity, ValidationOptions, ValidationReport
from territory_router.territories.validate import too_large_report, validate_files

logger = logging.getLogger(__name__)

ACTIVATION_ATTEMPTS = 3
STATUS_IGNORED = "IGNORED"


@dataclass(frozen=True)
class TerritoryUploadOutcome:
    source_key: str
    version: str
    status: str  # VALID / REJECTED / ACTIVE (the version record's status after processing) / IGNORED
    valid: bool
    activated: bool
    duplicate: bool = False  # the version already existed (retried event)
    index_key: str | None = None
    report_key: str | None = None
    map_key: str | None = None
    territories: int = 0
    errors: int = 0
    warnings: int = 0
    overlaps: int = 0
    gaps: int = 0
    report: ValidationReport | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "report"}

    def summary(self) -> dict[str, Any]:
        """For logs and the handler's response: the outcome plus the first reasons of a rejection."""
        out = self.to_dict()
        if self.report is not None and self.report.errors:
            out["first_errors"] = [f"{i.territory}: {i.reason}" for i in self.report.errors[:5]]
        return out


def _compile(territory_set) -> bytes:
    from territory_router.tagging.index import compile_index

    return compile_index(territory_set)


def _render_map(report: ValidationReport, title: str) -> str:
    from territory_router.territories.mapping import render_map_html

    return render_map_html(report, title=title)


def _outcome(
    record: TerritoryVersion, *, activated: bool, duplicate: bool, report=None
) -> TerritoryUploadOutcome:
    return TerritoryUploadOutcome(
        source_key=record.source_key,
        version=record.version,
        status=record.status,
        valid=record.status != "REJECTED",
        activated=activated,
        duplicate=duplicate,
        index_key=record.index_key,
        report_key=record.report_key,
        map_key=record.map_key,
        territories=record.territories,
        errors=record.error_count,
        warnings=record.warning_count,
        overlaps=record.overlap_count,
        gaps=record.gap_count,
        report=report,
    )


def _activate(store: TerritoryStore, version: str) -> None:
    for attempt in range(1, ACTIVATION_ATTEMPTS + 1):
        try:
            store.activate(version)
            return
        except ActivationConflict:
            if attempt == ACTIVATION_ATTEMPTS:
                raise
            logger.warning("activation of %s raced another activation; retrying", version)


def process_territory_upload(
    bucket: str,
    key: str,
    *,
    store: TerritoryStore,
    auto_activate: bool = True,
    options: ValidationOptions | None = None,
) -> TerritoryUploadOutcome:
    """Validate the uploaded object ``s3://bucket/key`` and store it as a version (activated if valid)."""
    opts = options or ValidationOptions()
    if key.endswith("/"):  # a "folder" created in the S3 console: nothing to validate, no version
        logger.info("ignoring folder marker %s", key)
        return TerritoryUploadOutcome(
            source_key=key, version="", status=STATUS_IGNORED, valid=False, activated=False
        )
    obj = store.read_upload(bucket, key, max_bytes=opts.max_file_bytes)
    name = PurePosixPath(key).name
    if obj.data is None:
        version = new_version_id(f"{key}:{obj.size}".encode(), obj.last_modified)
    else:
        version = new_version_id(obj.data, obj.last_modified)

    existing = store.get_version(version)
    if existing is not None:
        activated = False
        if auto_activate and existing.status == STATUS_VALID:
            _activate(store, version)  # saved by an earlier attempt that died before activating
            existing = store.get_version(version) or existing
            activated = True
        logger.info("territory upload %s already processed as %s (%s)", key, version, existing.status)
        return _outcome(existing, activated=activated, duplicate=True)

    if obj.data is None:
        report = too_large_report(name, obj.size, opts.max_file_bytes)
    else:
        report = validate_files([(name, obj.data)], opts)

    index_bytes = None
    if report.valid and report.territory_set is not None:
        index_bytes = _compile(report.territory_set)
    map_html = None
    try:
        map_html = _render_map(report, title=f"Territories {version} ({name})")
    except Exception as exc:  # the map is a convenience: never block a good set because of it
        logger.exception("map rendering failed for %s", key)
        report.warnings.append(Issue(name, f"map could not be drawn: {exc}", "map_failed", Severity.WARNING))

    record = store.save(
        version=version,
        source_key=key,
        report=report.to_dict(),
        map_html=map_html,
        index_bytes=index_bytes,
        sha256=hashlib.sha256(obj.data).hexdigest() if obj.data is not None else "",
    )
    activated = False
    if record.status == STATUS_VALID and auto_activate:
        _activate(store, version)
        record = store.get_version(version) or record
        activated = True
    logger.info(
        "territory upload processed",
        extra={"key": key, "version": version, "status": record.status, "activated": activated},
    )
    return _outcome(record, activated=activated, duplicate=False, report=report)
