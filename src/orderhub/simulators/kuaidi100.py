"""A local kuaidi100 (快递100): the real-time query API and the subscription pushes it sends, with faults.

Formats and signing as in kuaidi100-api/java-demo (shared/formats.md §6): the query is a form POST
of `customer`, `sign` = UPPER(MD5(param + key + customer)) and `param` to `/poll/query.do`; a push
is a form POST of `param` and `sign` = UPPER(MD5(param + salt)). OrderHub's poll job talks to it over
HTTP exactly as to the real API; only the base URL differs.

Control endpoints (JSON), for tests, the demo and people poking at a running simulator:
* `POST /_control/tracks` — `{"com", "number", "state", "events": [{"ftime", "context", "status", "areaName"}]}`
  sets a waybill's track (events newest first, as kuaidi100 sends them);
* `POST /_control/faults` — `{"error_rate": 0..1, "bad_json": bool}`;
* `GET /_control/calls` — how many queries were answered.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from orderhub.logistics.kuaidi100 import query_sign, sign
from orderhub.simulators.serving import BackgroundServer

# The query API's return codes (kuaidi100 API docs): 400 incomplete request, 500 no track yet,
# 502 server busy, 503 signature check failed.
INCOMPLETE, NO_RESULT, BUSY, BAD_SIGN = "400", "500", "502", "503"


class TrackEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ftime: str
    context: str
    status: str = ""
    areaName: str = ""  # kuaidi100's own field name


class TrackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    com: str
    number: str
    state: str = "0"
    events: list[TrackEventIn] = Field(default_factory=list)


class FaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate: float | None = Field(default=None, ge=0, le=1)
    bad_json: bool | None = None


@dataclass
class Kuaidi100State:
    key: str
    customer: str
    salt: str = ""
    tracks: dict[tuple[str, str], TrackIn] = field(default_factory=dict)
    error_rate: float = 0.0
    bad_json: bool = False
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(100))  # noqa: S311 - fault injection, not security

    def set_track(self, track: TrackIn) -> None:
        with self.lock:
            self.tracks[(track.com, track.number)] = track

    def last_result(self, com: str, number: str) -> dict[str, Any]:
        track = self.tracks[(com, number)]
        data = [{"context": e.context, "time": e.ftime, "ftime": e.ftime, "status": e.status, "areaName": e.areaName}
                for e in track.events]
        return {"message": "ok", "nu": number, "ischeck": "1" if track.state == "3" else "0", "condition": "00",
                "com": com, "status": "200", "state": track.state, "data": data}

    def push_form(self, com: str, number: str, *, status: str = "polling") -> dict[str, str]:
        """The form kuaidi100 would POST to a subscriber's callback for this waybill's current track."""
        with self.lock:
            body = {"status": status, "billstatus": "got", "message": "", "autoCheck": "0", "comOld": "",
                    "comNew": "", "lastResult": self.last_result(com, number)}
        param = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return {"param": param, "sign": sign(param, self.salt) if self.salt else ""}

    def answer_query(self, customer: str, signature: str, param: str) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            if customer != self.customer or signature != query_sign(param, self.key, self.customer):
                return {"result": False, "returnCode": BAD_SIGN, "message": "验证签名失败"}
            try:
                asked = json.loads(param)
                com, number = str(asked["com"]), str(asked["num"])
            except (ValueError, KeyError, TypeError):
                return {"result": False, "returnCode": INCOMPLETE, "message": "提交的数据不完整"}
            if self.error_rate and self.rng.random() < self.error_rate:
                return {"result": False, "returnCode": BUSY, "message": "服务器繁忙，请稍后再试"}
            if (com, number) not in self.tracks or not self.tracks[(com, number)].events:
                return {"result": False, "returnCode": NO_RESULT, "message": "查询无结果，请隔段时间再查"}
            return self.last_result(com, number)


def create_kuaidi100_simulator(state: Kuaidi100State) -> FastAPI:
    app = FastAPI(title="kuaidi100 simulator", docs_url="/_control/docs", openapi_url="/_control/openapi.json")

    @app.post("/poll/query.do")
    def query(customer: Annotated[str, Form()] = "", sign: Annotated[str, Form()] = "",
              param: Annotated[str, Form()] = "") -> Response:
        if state.bad_json:
            return Response("<html>502 Bad Gateway</html>", media_type="text/html")
        return JSONResponse(state.answer_query(customer, sign, param))

    @app.post("/_control/tracks")
    def set_track(track: TrackIn) -> dict[str, str]:
        state.set_track(track)
        return {"com": track.com, "number": track.number}

    @app.post("/_control/faults")
    def set_faults(faults: FaultsIn) -> dict[str, Any]:
        with state.lock:
            if faults.error_rate is not None:
                state.error_rate = faults.error_rate
            if faults.bad_json is not None:
                state.bad_json = faults.bad_json
            return {"error_rate": state.error_rate, "bad_json": state.bad_json}

    @app.get("/_control/calls")
    def calls() -> dict[str, int]:
        return {"calls": state.calls}

    return app


def run_kuaidi100_simulator(host: str, port: int, state: Kuaidi100State) -> None:
    """Serve until interrupted (`orderhub simulate kuaidi100`)."""
    uvicorn.run(create_kuaidi100_simulator(state), host=host, port=port, log_level="warning")


class RunningKuaidi100(BackgroundServer):
    """The simulator serving on a background thread; `query_url` is its query endpoint."""

    def __init__(self, state: Kuaidi100State, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_kuaidi100_simulator(state), name="kuaidi100 simulator", host=host, port=port)

    @property
    def query_url(self) -> str:
        return f"{self.base_url}/poll/query.do"

