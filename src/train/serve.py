"""The FastAPI app behind ``dataclean serve RUN_DIR`` (needs the ``serve`` extra: fastapi, uvicorn, python-multipart).

    GET  /          an upload page (inline HTML/CSS/JS, nothing fetched from elsewhere)
    GET  /health    {"status": "ok", "model": ..., "classes": [...], "image_size": ..., "model_calls": ...}
    POST /predict   multipart field ``file`` [+ ?top_k=N] -> {"predictions": [{"label", "probability"}, ...]}

The model is loaded once, when the app is made. Requests are handled on a thread pool; decoding and
resizing run in parallel (at most :data:`DECODE_SLOTS` at once, which bounds the memory big images
take), and one :class:`Batcher` thread calls the model on whatever images are waiting, as one batch, so
concurrent clients are safe and share model calls. A bad upload is a 4xx JSON
``{"error": "..."}``, never a 500: not an image (415), truncated or undecodable (422), more pixels than
``max_pixels`` (a decompression bomb, refused from its header before any pixel is decoded: 413), a
body over ``max_upload_mb`` (413, counted while it arrives, never buffered whole).
"""

from __future__ import annotations

import json
import queue
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from train.decode import ImageReadError
from train.predict import Predictor, decode_rgb, resize_batch
from train.predict import top_k as top_k_of

#: Default cap on an upload's size, in MB (the whole multipart body).
DEFAULT_MAX_UPLOAD_MB = 20
#: Default cap on an uploaded image's width x height: 40 Mpx (a 7,700 x 5,200 photo) decodes to 120 MB.
DEFAULT_SERVE_MAX_PIXELS = 40_000_000
#: Images decoded at the same time (the rest wait): bounds decoding memory to a few of the largest images.
DECODE_SLOTS = 2
#: Most images one model call takes.
MAX_BATCH = 32
#: HTTP status per ImageReadError code.
STATUS = {"empty_file": 415, "not_an_image": 415, "too_large": 413, "truncated": 422, "decode_error": 422,
          "unreadable": 422}
#: A body over the limit is read and dropped up to this many bytes, so the client sees the 413 instead of a
#: reset connection; beyond it the connection is closed.
DRAIN_LIMIT = 256 * 1024 * 1024


class _TooLarge(Exception):
    pass


class UploadLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 ``{"error": ...}``.

    A ``Content-Length`` over the limit is refused before the app runs; a body without one (chunked) is
    counted as it arrives and refused as soon as it passes the limit. Either way the rest of the body
    is read and dropped (up to :data:`DRAIN_LIMIT`), never held in memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"upload larger than the server's limit of {self.max_bytes / 1e6:g} MB (--max-upload-mb)"

    async def _refuse(self, receive: Receive, send: Send, seen: int, more: bool) -> None:
        while more and seen <= DRAIN_LIMIT:
            message = await receive()
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = json.dumps({"error": self._message()}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(receive, send, 0, True)
            return
        state = {"seen": 0, "over": False, "more": True}

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                state["more"] = message.get("more_body", False)
                if state["seen"] > self.max_bytes:
                    state["over"] = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            if not state["over"]:  # once over the limit, the app's own answer (a parse error) is dropped
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except _TooLarge:
            pass
        if state["over"]:
            await self._refuse(receive, send, int(state["seen"]), bool(state["more"]))


class Batcher:
    """One thread that owns the model: it takes every image waiting in its queue (up to ``max_batch``)
    and predicts them in one call. A lone request waits for nothing; under load, requests that arrive
    while the model runs share the next call."""

    def __init__(self, predictor: Predictor, max_batch: int = MAX_BATCH) -> None:
        self.predictor = predictor
        self.max_batch = max_batch
        self.calls = 0  # model calls made, for /health
        self.images = 0
        self._queue: queue.Queue[tuple[np.ndarray, Future[np.ndarray]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="dataclean-serve-model", daemon=True)
        self._thread.start()

    def probabilities(self, image: np.ndarray, timeout: float = 300) -> np.ndarray:
        """Class probabilities of one resized image (size x size x 3), from a shared model call."""
        done: Future[np.ndarray] = Future()
        self._queue.put((image, done))
        return done.result(timeout=timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                probs = self.predictor.probabilities(np.stack([img for img, _ in batch]))
            except Exception as exc:  # hand the failure to every waiting request
                for _, done in batch:
                    done.set_exception(exc)
                continue
            self.calls += 1
            self.images += len(batch)
            for (_, done), row in zip(batch, probs):
                done.set_result(row)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(run_dir: str | Path, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
               max_pixels: int = DEFAULT_SERVE_MAX_PIXELS, predictor: Predictor | None = None) -> FastAPI:
    """The app for the model in ``run_dir`` (a run directory or its model.keras), loaded once, here."""
    predictor = predictor or Predictor(run_dir)
    batcher = Batcher(predictor)
    decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)
    app = FastAPI(title="dataclean serve", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher
    app.add_middleware(UploadLimit, max_bytes=int(max_upload_mb * 1_000_000))
    page = PAGE.replace("__MODEL__", _html_escape(predictor.name)).replace(
        "__CLASSES__", _html_escape(", ".join(predictor.classes)))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
                             for e in exc.errors())
        missing_file = any(tuple(e.get("loc", ()))[-1:] == ("file",) for e in exc.errors())
        if missing_file:
            return _error(400, "no file: send the image as the multipart form field 'file'")
        return _error(422, problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # a bug, not the client's fault
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": predictor.name, "classes": predictor.classes,
                "image_size": predictor.size, "run": str(predictor.path.parent),
                "model_calls": batcher.calls, "images_predicted": batcher.images}

    @app.post("/predict")
    def predict(file: UploadFile = File(...), top_k: int = Query(3, ge=1, le=1000)) -> JSONResponse:  # noqa: B008
        """One image's top classes."""
        data = file.file.read()
        name = file.filename or "upload"
        try:
            with decode_slots:
                image = resize_batch([decode_rgb(data, name, max_pixels)], predictor.size)[0]
        except ImageReadError as exc:
            raise HTTPException(STATUS.get(exc.code, 422), str(exc)) from None
        ranked = top_k_of(batcher.probabilities(image)[None], predictor.classes, top_k)[0]
        return JSONResponse({"predictions": [{"label": c, "probability": p} for c, p in ranked],
                             "model": predictor.name})

    return app


def _html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


#: Only this page's own inline style and script, images from blob: URLs, requests to itself.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src blob:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dataclean serve: __MODEL__</title>
<style>
 body{font:15px/1.4 system-ui,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#222}
 h1{font-size:1.3em;margin-bottom:.2em} .muted{color:#666;font-size:.9em}
 #drop{border:2px dashed #9ab;border-radius:8px;padding:1.2em;text-align:center;margin:1em 0;background:#f7fafc}
 #drop.over{background:#e6f0fa}
 #result{display:flex;gap:1.5em;align-items:flex-start;flex-wrap:wrap}
 #preview{max-width:280px;max-height:280px;border-radius:6px;display:none;box-shadow:0 1px 4px #0003}
 #predictions{list-style:none;padding:0;margin:0;flex:1;min-width:240px}
 #predictions li{margin:.35em 0} .bar{height:8px;background:#3a7bd5;border-radius:4px;margin-top:2px}
 .label{font-weight:600} .p{float:right;color:#444} #error{color:#b00020;white-space:pre-wrap}
</style></head>
<body>
<h1>dataclean serve</h1>
<div class="muted">model <b>__MODEL__</b> &middot; classes: __CLASSES__</div>
<div id="drop">
 <label for="file">Choose an image (or drop one here): </label>
 <input type="file" id="file" name="file" accept="image/*">
 <label for="topk"> top </label><input type="number" id="topk" min="1" value="3" style="width:3.5em">
</div>
<div id="status" class="muted"></div>
<div id="error" role="alert"></div>
<div id="result"><img id="preview" alt="the uploaded image"><ul id="predictions"></ul></div>
<script>
(function () {
  var input = document.getElementById("file"), drop = document.getElementById("drop");
  var preview = document.getElementById("preview"), list = document.getElementById("predictions");
  var status = document.getElementById("status"), error = document.getElementById("error");
  function show(file) {
    list.textContent = ""; error.textContent = ""; status.textContent = "predicting " + file.name + "...";
    preview.src = URL.createObjectURL(file); preview.style.display = "block";
    var form = new FormData(); form.append("file", file);
    var k = parseInt(document.getElementById("topk").value, 10) || 3;
    fetch("predict?top_k=" + k, {method: "POST", body: form}).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, status: r.status, body: body}; });
    }).then(function (res) {
      status.textContent = "";
      if (!res.ok) { error.textContent = "Error " + res.status + ": " + (res.body.error || "request failed"); return; }
      res.body.predictions.forEach(function (p) {
        var li = document.createElement("li"), name = document.createElement("span"), pct = document.createElement("span");
        var bar = document.createElement("div");
        name.className = "label"; name.textContent = p.label;
        pct.className = "p"; pct.textContent = (100 * p.probability).toFixed(1) + "%";
        bar.className = "bar"; bar.style.width = Math.max(1, 100 * p.probability) + "%";
        li.appendChild(name); li.appendChild(pct); li.appendChild(bar); list.appendChild(li);
      });
    }).catch(function (e) { status.textContent = ""; error.textContent = "Error: " + e; });
  }
  input.addEventListener("change", function () { if (input.files.length) { show(input.files[0]); } });
  drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.className = "over"; });
  drop.addEventListener("dragleave", function () { drop.className = ""; });
  drop.addEventListener("drop", function (e) {
    e.preventDefault(); drop.className = "";
    if (e.dataTransfer.files.length) { show(e.dataTransfer.files[0]); }
  });
})();
</script>
</body></html>
"""


__all__ = ["Batcher", "CSP", "DEFAULT_MAX_UPLOAD_MB", "DEFAULT_SERVE_MAX_PIXELS", "UploadLimit", "create_app"]
