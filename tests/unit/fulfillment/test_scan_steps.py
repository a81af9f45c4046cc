"""What a scan means for a shipment in each status: the next step moves it, a step taken is done, a skip is refused."""

from __future__ import annotations

import pytest

from orderhub.fulfillment.model import ScanKind, ScanStep, scan_step

K = ScanKind


@pytest.mark.parametrize(("status", "kind", "step"), [
    ("planned", K.PICK_STARTED, ScanStep.APPLY),
    ("picking", K.PICKED, ScanStep.APPLY),
    ("picked", K.PACKED, ScanStep.APPLY),
    ("packed", K.SHIPPED, ScanStep.APPLY),
    ("planned", K.PACKED, ScanStep.SKIPS),
    ("picking", K.SHIPPED, ScanStep.SKIPS),
    ("picking", K.PICK_STARTED, ScanStep.DONE),
    ("shipped", K.PICKED, ScanStep.DONE),
    ("packed", K.PACKED, ScanStep.DONE),
    ("cancelled", K.PICK_STARTED, ScanStep.CANCELLED),
])
def test_a_scan_moves_a_shipment_one_step_at_a_time(status: str, kind: ScanKind, step: ScanStep) -> None:
    assert scan_step(status, kind) is step
