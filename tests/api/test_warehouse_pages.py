"""The console's warehouse page over HTTP: a 3PL account lands on its own warehouse and sees nothing of the
others; scans, package photos and scan conflicts through the page; every refusal is clear and changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from orderhub.auth import service as auth
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.fulfillment import scans
from orderhub.fulfillment.model import ParcelPhoto, ScanKind, WarehouseScan
from orderhub.fulfillment.scans import Scan
from orderhub.runtime import Runtime
from tests.api.test_console_pages import HTMX, PASSWORD, login_token
from tests.integration.fulfillment.routing_setup import (
    package_photo,
    routed_in_gz_and_hz,
)

pytestmark = pytest.mark.usefixtures("merchant")
PAGE = "/console/warehouse"


@pytest.fixture
def orders(runtime: Runtime, tmp_path: Path) -> dict[str, str]:
    return routed_in_gz_and_hz(runtime, tmp_path)


def sign_in(client: TestClient, runtime: Runtime, username: str, role: str, warehouse: str | None = None) -> str:
    """Sign in as a new user; the CSRF token of the session, read off the page the login lands on."""
    auth.create_user(runtime.uow(), username=username, password=PASSWORD, role=role, warehouse=warehouse)
    landed = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                 "csrf_token": login_token(client)})
    assert landed.status_code == 200, landed.text
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', landed.text)
    assert match is not None
    return match[1]


def event_id(html: str) -> str:
    match = re.search(r'name="event_id" value="([0-9a-f]+)"', html)
    assert match is not None
    return match[1]


def scan_form(client: TestClient, csrf: str, parcel: str, **fields: str) -> dict[str, str]:
    page = client.get(PAGE).text
    return {"csrf_token": csrf, "warehouse": "", "date": "", "parcel": parcel, "kind": "", "waybill_no": "",
            "event_id": event_id(page), **fields}


def stored_scans(runtime: Runtime) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(WarehouseScan)) or 0


def test_a_3pl_account_lands_on_its_warehouse_and_sees_nothing_of_the_others(
        client: TestClient, runtime: Runtime, orders: dict[str, str]) -> None:
    sign_in(client, runtime, "gz-packer", "3pl", "WH-GZ")
    page = client.get(PAGE)

    assert str(page.url).endswith(PAGE)  # where the login landed
    assert "仓库作业" in page.text and "广州云仓" in page.text and f"{orders['WH-GZ']}-1" in page.text
    assert orders["WH-HZ"] not in page.text and "杭州主仓" not in page.text
    assert 'href="/console/orders"' not in page.text  # no order pages for a 3pl account
    assert 'id="pick-warehouse"' not in page.text
    other = client.get(f"{PAGE}?warehouse=WH-HZ")
    assert other.status_code == 403 and "WH-GZ" in other.text
    assert client.get("/console/orders").status_code == 403
    assert client.get("/console", follow_redirects=False).headers["location"] == PAGE
    english = client.get(f"{PAGE}?lang=en").text
    assert "Warehouse work" in english and "Waiting to ship" in english and "Scan conflicts" in english
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert csrf is not None
    assert client.post("/console/logout", data={"csrf_token": csrf[1]}, follow_redirects=False).status_code == 303


def test_staff_pick_a_warehouse_and_others_may_not_open_the_page(
        client: TestClient, runtime: Runtime, orders: dict[str, str]) -> None:
    sign_in(client, runtime, "hz-lead", "warehouse")
    picker = client.get(PAGE).text
    assert 'id="pick-warehouse"' in picker and "WH-HZ" in picker and "waiting" not in picker
    hangzhou = client.get(f"{PAGE}?warehouse=WH-HZ").text
    assert f"{orders['WH-HZ']}-1" in hangzhou and orders["WH-GZ"] not in hangzhou
    assert f'href="/console/orders/{orders["WH-HZ"]}"' in hangzhou  # staff may open the order
    assert client.get(f"{PAGE}?warehouse=WH-XX").status_code == 422  # inventory.unknown_warehouse
    assert client.get(f"{PAGE}?warehouse=WH-HZ&date=2026-13-01").status_code == 422
    client.cookies.clear()
    sign_in(client, runtime, "kefu", "ops")
    assert "/console/warehouse" not in client.get("/console/orders").text
    assert client.get(PAGE).status_code == 403


def test_scanning_an_order_number_moves_its_parcel_on_and_a_refusal_stays_in_the_form(
        client: TestClient, runtime: Runtime, orders: dict[str, str]) -> None:
    csrf = sign_in(client, runtime, "gz-packer", "3pl", "WH-GZ")
    gz = orders["WH-GZ"]

    first = scan_form(client, csrf, gz)
    done = client.post(f"{PAGE}/scan", data=first, headers=HTMX)
    again = client.post(f"{PAGE}/scan", data=first, headers=HTMX)  # the same form sent twice: one scan
    picked = client.post(f"{PAGE}/scan", data=scan_form(client, csrf, f"{gz}-1"), headers=HTMX)

    assert done.status_code == 200 and f"{gz}-1：已扫描「开始拣货」，包裹现为拣货中。" in done.text
    assert "重复提交" in again.text and "拣货中" in again.text
    assert f"{gz}-1：已扫描「拣货完成」，包裹现为已拣货。" in picked.text
    assert stored_scans(runtime) == 2
    assert event_id(done.text) != first["event_id"]  # a fresh form for the next parcel

    refusals = [
        (scan_form(client, csrf, orders["WH-HZ"]), 404, "不存在"),  # another warehouse's: as if unknown
        (scan_form(client, csrf, "no such label!"), 422, "包裹编号格式错误"),
        (scan_form(client, csrf, gz, kind="shipped"), 409, "不能直接发货"),
        (scan_form(client, csrf, ""), 422, "请扫描或输入"),
        (scan_form(client, csrf, gz, waybill_no="##"), 422, "运单号格式错误"),
    ]
    for form, status, message in refusals:
        response = client.post(f"{PAGE}/scan", data=form, headers=HTMX)
        assert response.status_code == status, (form, response.text[:300])
        assert response.headers["HX-Retarget"] == "#warehouse-work" and message in response.text
        assert f'value="{form["event_id"]}"' in response.text and 'id="scan-error"' in response.text
    nul = client.post(f"{PAGE}/scan", data=scan_form(client, csrf, "PH_2026\x00"), headers=HTMX)
    assert nul.status_code == 422 and nul.headers["HX-Retarget"] == "#toasts"
    assert stored_scans(runtime) == 2
    forged = client.post(f"{PAGE}/scan", data=scan_form(client, "forged", gz), headers=HTMX | {"X-CSRF-Token": "x"})
    assert forged.status_code == 403
    assert client.post(f"{PAGE}/scan", data=scan_form(client, csrf, gz, warehouse="WH-HZ"),
                       headers=HTMX).status_code == 403
    assert stored_scans(runtime) == 2


def test_a_package_photo_is_checked_for_the_order_number_and_shown_once_stored(
        client: TestClient, runtime: Runtime, orders: dict[str, str], tmp_path: Path) -> None:
    csrf = sign_in(client, runtime, "gz-packer", "3pl", "WH-GZ")
    gz = orders["WH-GZ"]
    url = f"{PAGE}/parcels/{gz}/1/photo"

    def upload(content: bytes, target: str = url) -> tuple[int, str]:
        response = client.post(target, data={"csrf_token": csrf, "warehouse": "", "date": ""}, headers=HTMX,
                               files={"photo": ("box.jpg", content, "image/jpeg")})
        return response.status_code, response.text

    status, plain = upload(package_photo(size=(640, 480)))
    assert status == 422 and "识别不到条码或二维码" in plain and "toast" in plain
    status, wrong = upload(package_photo(code=f"{orders['WH-HZ']}-1"))
    assert status == 422 and orders["WH-HZ"] in wrong
    assert upload(package_photo(code=f"{orders['WH-HZ']}-1"), f"{PAGE}/parcels/{orders['WH-HZ']}/1/photo")[0] == 404
    assert list(tmp_path.rglob("*.jpg")) == []

    status, shown = upload(package_photo(code=f"{gz}-1"))

    assert status == 200 and f"{gz}-1 的包裹照片已保存" in shown
    with runtime.reading() as session:
        (photo,) = session.scalars(select(ParcelPhoto)).all()
    assert f'src="/console/warehouse/photos/{photo.id}"' in shown
    image = client.get(f"{PAGE}/photos/{photo.id}")
    assert (image.status_code, image.headers["content-type"]) == (200, "image/jpeg")
    assert image.content == package_photo(code=f"{gz}-1")
    client.cookies.clear()
    sign_in(client, runtime, "hz-packer", "3pl", "WH-HZ")
    assert client.get(f"{PAGE}/photos/{photo.id}").status_code == 404


def test_a_conflict_is_applied_from_the_page_with_a_note_and_the_parcel_moves(
        client: TestClient, runtime: Runtime, orders: dict[str, str], clock: FixedClock) -> None:
    gz = orders["WH-GZ"]
    start = clock.now() - timedelta(hours=1)
    scans.apply_batch(runtime.uow(), actor=Actor("pda-gz", "scanner"), scans=[
        Scan("pda-gz", "e1", "WH-GZ", f"{gz}-1", ScanKind.PICKED, start),  # before the pick started: a conflict
        Scan("pda-hz", "e1", "WH-HZ", f"{orders['WH-HZ']}-1", ScanKind.PACKED, start)])
    with runtime.reading() as session:
        ids = {row.warehouse_code: row.id for row in scans.scan_conflicts(session)}
    csrf = sign_in(client, runtime, "gz-packer", "3pl", "WH-GZ")
    page = client.get(PAGE).text
    assert f'id="conflict-{ids["WH-GZ"]}"' in page and f'id="conflict-{ids["WH-HZ"]}"' not in page

    def resolve(conflict: int, **fields: str) -> tuple[int, str]:
        response = client.post(f"{PAGE}/conflicts/{conflict}/resolve", headers=HTMX,
                               data={"csrf_token": csrf, "warehouse": "", "date": "", **fields})
        return response.status_code, response.text

    assert resolve(ids["WH-HZ"], decision="dismiss", note="x")[0] == 404
    assert resolve(ids["WH-GZ"], decision="apply", note="")[0] == 422
    assert resolve(ids["WH-GZ"], decision="maybe", note="x")[0] == 422
    assert resolve(ids["WH-GZ"], decision="dismiss", note="x\x00")[0] == 422
    assert resolve(2**70, decision="dismiss", note="x")[0] == 422
    status, still = resolve(ids["WH-GZ"], decision="apply", note="已拣完")
    assert status == 409 and "仍不能执行" in still
    scans.apply_scan(runtime.uow(), scan=Scan("pda-gz", "e0", "WH-GZ", f"{gz}-1", ScanKind.PICK_STARTED,
                                              start - timedelta(minutes=5)), actor=Actor("pda-gz", "scanner"))

    status, applied = resolve(ids["WH-GZ"], decision="apply", note="补扫开始拣货后执行")

    assert status == 200 and f"冲突 #{ids['WH-GZ']} 已执行" in applied
    assert 'id="warehouse-work"' in applied and 'hx-swap-oob="true"' in applied and "已拣货" in applied
    assert resolve(ids["WH-GZ"], decision="dismiss", note="again")[0] == 409
    settled = client.get(f"{PAGE}?conflicts=resolved").text
    assert "补扫开始拣货后执行" in settled and "gz-packer" in settled
