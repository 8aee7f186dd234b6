"""An ASGI WebSocket route (Starlette) for uvicorn: `uvicorn ws_starlette:app --port PORT`.
/ws echoes each text frame; / is a plain HTTP route (a ws:// URL to it is refused at the handshake)."""

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        pass


async def home(request):
    return PlainTextResponse("hello")


app = Starlette(routes=[Route("/", home), WebSocketRoute("/ws", echo)])
