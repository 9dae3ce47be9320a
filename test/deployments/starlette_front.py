"""A Starlette dev proxy in front of the surewire server, as people write one: every HTTP
request is relayed with httpx, and there is no WebSocket route, so uvicorn answers the
upgrade with 403. FRONT_MODE=stream relays the body as it arrives (SSE works);
FRONT_MODE=buffered reads the whole upstream body first (SSE never arrives).

    UPSTREAM=http://127.0.0.1:3000 FRONT_MODE=stream python3 -m uvicorn starlette_front:app --port 8000
"""
import os

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:3000")
MODE = os.environ.get("FRONT_MODE", "stream")
HOP = {"connection", "upgrade", "keep-alive", "transfer-encoding", "te", "trailer", "proxy-authorization", "proxy-authenticate", "content-length"}
client = httpx.AsyncClient(base_url=UPSTREAM, timeout=None)


async def relay(request: Request):
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP]  # Host kept
    upstream = client.build_request(request.method, request.url.path, params=request.url.query, headers=headers, content=await request.body())
    r = await client.send(upstream, stream=True)
    out = {k: v for k, v in r.headers.items() if k.lower() not in HOP}
    if MODE == "buffered":
        body = await r.aread()
        await r.aclose()
        return Response(body, status_code=r.status_code, headers=out)
    return StreamingResponse(r.aiter_raw(), status_code=r.status_code, headers=out, background=None)


app = Starlette(routes=[Route("/{path:path}", relay, methods=["GET", "POST", "OPTIONS"])])
