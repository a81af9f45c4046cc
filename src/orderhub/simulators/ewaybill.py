"""A local kuaidi100 e-waybill API (电子面单下单, `POST /label/order`): signed orders, unique numbers, faults.

Follows kuaidi100's "电子面单下单接口" V2 (api.kuaidi100.com/document/dianzimiandanV2, as published in
2026-11): a form POST of `method` (= "order"), `key`, `t` (milliseconds), `sign` = UPPER(MD5(param + t + key +
secret)) and `param`, a JSON object with `printType`, `partnerId`, `kuaidicom`, `recMan` / `sendMan`
(`name`, `mobile`, `printAddr`), `cargo`, `weight`, `count`. It answers HTTP 200 with `result`, `returnCode`
and `message`; a success carries `data` with `taskId`, `kuaidicom`, `kuaidinum` and, for IMAGE or HTML
printing, a `label` link. Refusals use the documented codes: 30001 bad parameters, 30002 signature,
30003 account (key), 30004 no waybills left on the account; -1 is kuaidi100's own server error.

Control endpoints (JSON), for tests and the demo:
* `POST /_control/faults` — `{"fail_next": n, "fail_status": 5xx, "delay_seconds": s, "balance": n}`: the next n
  orders answer that HTTP status, every order waits s seconds first (a timeout), the account holds n waybills;
* `GET /_control/calls` — how many orders were received and how many numbers were handed out.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from orderhub.logistics.kuaidi100 import label_sign
from orderhub.simulators.serving import BackgroundServer

OK, BAD_PARAM, BAD_SIGN, BAD_ACCOUNT, NO_BALANCE = "200", "30001", "30002", "30003", "30004"
PRINT_TYPES = frozenset({"NON", "IMAGE", "HTML", "CLOUD", "ORDERFIRST"})
# Numbers look like each carrier's own (SF…, 7…, YT…); others get the com's first letters.
PREFIXES = {"shunfeng": "SF", "zhongtong": "78", "yuantong": "YT", "yunda": "43", "shentong": "77",
            "jd": "JDV", "ems": "11", "jtexpress": "JT", "debangkuaidi": "DPK"}
PERSON_FIELDS = ("name", "mobile", "printAddr")


class FaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fail_next: int | None = Field(default=None, ge=0)
    fail_status: int | None = Field(default=None, ge=500, le=599)
    delay_seconds: float | None = Field(default=None, ge=0, le=60)
    balance: int | None = Field(default=None, ge=0)


@dataclass
class EwaybillState:
    key: str
    secret: str
    partner_id: str
    fail_next: int = 0
    fail_status: int = 503
    delay_seconds: float = 0.0
    balance: int | None = None  # None: unlimited
    calls: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    issued: dict[str, dict[str, Any]] = field(default_factory=dict)  # kuaidinum → the order's param
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_faults(self, faults: FaultsIn) -> dict[str, Any]:
        with self.lock:
            if faults.fail_next is not None:
                self.fail_next = faults.fail_next
            if faults.fail_status is not None:
                self.fail_status = faults.fail_status
            if faults.delay_seconds is not None:
                self.delay_seconds = faults.delay_seconds
            if faults.balance is not None:
                self.balance = faults.balance
            return {"fail_next": self.fail_next, "fail_status": self.fail_status,
                    "delay_seconds": self.delay_seconds, "balance": self.balance}

    def injected_failure(self) -> int | None:
        """Count the call; the HTTP status to fail it with, if a failure is due."""
        with self.lock:
            self.calls += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_status
            return None

    def answer_order(self, *, method: str, key: str, t: str, signature: str, param: str) -> dict[str, Any]:
        if method != "order":
            return refusal(BAD_PARAM, f"method {method!r} is not supported here; use order")
        if key != self.key:
            return refusal(BAD_ACCOUNT, "账号信息不正确")
        if not t.isdigit():
            return refusal(BAD_PARAM, "参数错误: t must be a timestamp in milliseconds")
        if signature != label_sign(param, t, self.key, self.secret):
            return refusal(BAD_SIGN, "验证签名失败")
        try:
            order = json.loads(param)
        except ValueError:
            return refusal(BAD_PARAM, "参数错误: param is not JSON")
        problem = _problem(order) if isinstance(order, dict) else "param is not a JSON object"
        if problem:
            return refusal(BAD_PARAM, f"参数错误: {problem}")
        if order["partnerId"] != self.partner_id:
            return refusal(BAD_PARAM, "参数错误: partnerId is not an e-waybill account of this outlet")
        with self.lock:
            if self.balance is not None and self.balance <= 0:
                return refusal(NO_BALANCE, "账号单量不足")
            com = order["kuaidicom"]
            self.counters[com] = self.counters.get(com, 0) + 1
            number = f"{PREFIXES.get(com, com[:2].upper())}{1_000_000_000_000 + self.counters[com]}"
            self.issued[number] = order
            if self.balance is not None:
                self.balance -= 1
        label = f"https://label.example.invalid/{number}.png" if order.get("printType") in ("IMAGE", "HTML") else ""
        return {"result": True, "returnCode": OK, "message": "success",
                "data": {"taskId": uuid.uuid4().hex, "kuaidicom": com, "kuaidinum": number, "label": label}}


def refusal(code: str, message: str) -> dict[str, Any]:
    return {"result": False, "returnCode": code, "message": message, "data": None}


def _problem(order: dict[str, Any]) -> str:
    """What is wrong with an order's param (the first thing found), or ""."""
    for name in ("partnerId", "kuaidicom"):
        if not isinstance(order.get(name), str) or not order[name].strip():
            return f"{name} is required"
    if not order["kuaidicom"].isalnum() or order["kuaidicom"] != order["kuaidicom"].lower():
        return "kuaidicom must be a lowercase kuaidi100 company code"
    print_type = order.get("printType", "NON")
    if print_type not in PRINT_TYPES:
        return f"printType {print_type!r} is not one of {', '.join(sorted(PRINT_TYPES))}"
    if print_type in ("CLOUD", "ORDERFIRST") and not order.get("siid"):
        return "siid is required for cloud printing"
    for person in ("recMan", "sendMan"):
        value = order.get(person)
        if not isinstance(value, dict):
            return f"{person} is required"
        for name in PERSON_FIELDS:
            if not isinstance(value.get(name), str) or not value[name].strip():
                return f"{person}.{name} is required"
    count = order.get("count", 1)
    if not isinstance(count, int) or not 1 <= count <= 99:
        return "count must be 1..99"
    return ""


def create_ewaybill_simulator(state: EwaybillState) -> FastAPI:
    app = FastAPI(title="kuaidi100 e-waybill simulator", docs_url="/_control/docs",
                  openapi_url="/_control/openapi.json")

    @app.post("/label/order")
    def order(method: Annotated[str, Form()] = "", key: Annotated[str, Form()] = "",
              sign: Annotated[str, Form()] = "", t: Annotated[str, Form()] = "",
              param: Annotated[str, Form()] = "") -> Response:
        if state.delay_seconds:
            time.sleep(state.delay_seconds)
        failure = state.injected_failure()
        if failure is not None:
            return PlainTextResponse(f"{failure} upstream unavailable", status_code=failure)
        return JSONResponse(state.answer_order(method=method, key=key, t=t, signature=sign, param=param))

    @app.post("/_control/faults")
    def set_faults(faults: FaultsIn) -> dict[str, Any]:
        return state.set_faults(faults)

    @app.get("/_control/calls")
    def calls() -> dict[str, int]:
        with state.lock:
            return {"calls": state.calls, "issued": len(state.issued)}

    return app


def run_ewaybill_simulator(host: str, port: int, state: EwaybillState) -> None:
    """Serve until interrupted."""
    uvicorn.run(create_ewaybill_simulator(state), host=host, port=port, log_level="warning")


class RunningEwaybill(BackgroundServer):
    """The simulator serving on a background thread; `order_url` is its label/order endpoint."""

    def __init__(self, state: EwaybillState, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_ewaybill_simulator(state), name="e-waybill simulator", host=host, port=port)

    @property
    def order_url(self) -> str:
        return f"{self.base_url}/label/order"
