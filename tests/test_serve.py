"""`dataclean serve` over real HTTP: a uvicorn process started here, predictions, every bad upload,
40 concurrent clients; and the upload page in headless Chromium."""

from __future__ import annotations

import io
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.slow  # TensorFlow and a server process

SRC = Path(__file__).resolve().parents[1] / "src"
CLASSES = ["blue", "red"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with an untrained simplecnn (predictions need a model, not a good one)."""
    from dataclean.io import write_json
    from train.model import build_model
    from train.run import save_model

    run = tmp_path_factory.mktemp("serve") / "run"
    run.mkdir()
    save_model(build_model("simplecnn", 2, 32, None, seed=0), run / "model.keras")
    write_json({str(i): c for i, c in enumerate(CLASSES)}, run / "labels.json")
    return run


class Server:
    def __init__(self, run: Path, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-c", "from dataclean.cli import run; run()", "serve", str(run), "--port", str(self.port),
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                httpx.get(self.url + "/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise AssertionError("server did not start within 180 s")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@pytest.fixture(scope="module")
def server(run_dir: Path) -> Iterator[Server]:
    srv = Server(run_dir, "--max-upload-mb", "2", "--max-pixels", "40000000")
    yield srv
    err = srv.stop()
    assert "Traceback" not in err, err


def _png(colour: tuple[int, int, int], size: int = 40, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(sum(colour))
    pixels = np.clip(np.array(colour) + rng.integers(-30, 31, (size, size, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def _post(server: Server, data: bytes, name: str = "x.png", **params: object) -> httpx.Response:
    return httpx.post(server.url + "/predict", files={"file": (name, data, "application/octet-stream")},
                      params=params, timeout=60)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` and whose pixel data is a few bytes: a bomb's shape."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_health_names_the_model_and_classes(server: Server, run_dir: Path) -> None:
    r = httpx.get(server.url + "/health")
    assert r.status_code == 200
    body = r.json()
    assert {k: body.pop(k) for k in ("model_calls", "images_predicted")}.keys() == {"model_calls", "images_predicted"}
    assert body == {"status": "ok", "model": "simplecnn_classifier", "classes": CLASSES, "image_size": 32,
                    "run": str(run_dir)}


def test_predict_returns_sorted_probabilities_matching_the_library(server: Server, run_dir: Path) -> None:
    from train.predict import Predictor, decode_rgb

    data = _png((220, 30, 30))
    r = _post(server, data, top_k=2)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [set(p) for p in preds] == [{"label", "probability"}] * 2
    assert {p["label"] for p in preds} == set(CLASSES)
    assert preds[0]["probability"] >= preds[1]["probability"]
    assert sum(p["probability"] for p in preds) == pytest.approx(1.0, abs=1e-5)
    expected = Predictor(run_dir).predict_arrays([decode_rgb(data)], 2)[0]
    assert [(p["label"], p["probability"]) for p in preds] == [(c, pytest.approx(v, abs=1e-5)) for c, v in expected]
    one = _post(server, data, top_k=1).json()["predictions"]
    assert one == preds[:1]


def test_formats_tensorflow_cannot_read_are_accepted(server: Server) -> None:
    for fmt, name in (("TIFF", "x.tif"), ("PPM", "x.ppm"), ("WEBP", "x.webp")):
        r = _post(server, _png((30, 30, 220), fmt=fmt), name)
        assert r.status_code == 200, (fmt, r.text)
    deep = io.BytesIO()
    Image.fromarray(np.full((20, 20), 50000, dtype=np.uint16)).save(deep, "PNG")
    assert _post(server, deep.getvalue(), "deep.png").status_code == 200


def _truncated_jpeg() -> bytes:
    data = _png((120, 60, 200), size=200, fmt="JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize("make, status, message", [
    (lambda: b"", 415, "empty.bin: empty file"),
    (lambda: b"just some text, not an image", 415, "junk.bin: not an image"),
    (_truncated_jpeg, 422, "half.jpg: truncated"),
    (lambda: _png_header_only(8000, 6000), 413, "bomb.png: 8000x6000 is 48,000,000 pixels, over the decompression-bomb cap"),
    (lambda: _png_header_only(30000, 30000), 413, "giant.png: too many pixels"),
], ids=["empty", "not-an-image", "truncated", "over-max-pixels", "pillow-bomb"])
def test_bad_uploads_are_4xx_json(server: Server, make, status: int, message: str) -> None:
    name = message.split(":")[0]
    started = time.perf_counter()
    r = _post(server, make(), name)
    assert time.perf_counter() - started < 5
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"].startswith(message)


def test_a_bomb_is_refused_without_decoding(server: Server) -> None:
    """48 Mpx would take ~150 MB decoded and 600 MB as floats: the server's peak memory must not move."""
    before = server.peak_rss_mb()
    for _ in range(3):
        assert _post(server, _png_header_only(8000, 6000), "bomb.png").status_code == 413
    assert server.peak_rss_mb() - before < 30


def test_request_problems_are_4xx_json(server: Server) -> None:
    r = httpx.post(server.url + "/predict", timeout=30)
    assert (r.status_code, r.json()) == (400, {"error": "no file: send the image as the multipart form field 'file'"})
    r = _post(server, _png((1, 2, 3)), top_k=0)
    assert r.status_code == 422 and r.json()["error"].startswith("top_k: ")
    r = httpx.get(server.url + "/nowhere")
    assert (r.status_code, r.json()) == (404, {"error": "Not Found"})
    r = httpx.get(server.url + "/predict")
    assert r.status_code == 405 and "error" in r.json()


def test_uploads_over_the_limit_get_413(server: Server) -> None:
    big = b"\x00" * 2_500_000  # --max-upload-mb 2
    r = _post(server, big, "big.bin")
    assert (r.status_code, r.json()) == (413, {"error": "upload larger than the server's limit of 2 MB (--max-upload-mb)"})

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n'
        for _ in range(50):
            yield b"\x01" * 65536
        yield b"\r\n--xyz--\r\n"

    r = httpx.post(server.url + "/predict", content=chunks(), timeout=60,
                   headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413 and r.json()["error"].startswith("upload larger")
    assert _post(server, _png((9, 9, 9))).status_code == 200  # and it still serves


def test_forty_concurrent_clients_get_the_same_answers(server: Server) -> None:
    images = [_png(c) for c in ((220, 30, 30), (30, 30, 220), (128, 128, 128), (10, 200, 10))]
    expected = [_post(server, img, top_k=2).json() for img in images]

    def one(i: int) -> dict:
        with httpx.Client(timeout=120) as client:
            r = client.post(server.url + "/predict", files={"file": ("c.png", images[i % 4])}, params={"top_k": 2})
            assert r.status_code == 200, r.text
            return r.json()

    before = httpx.get(server.url + "/health").json()
    with ThreadPoolExecutor(40) as pool:
        got = list(pool.map(one, range(40)))
    after = httpx.get(server.url + "/health").json()
    assert after["images_predicted"] - before["images_predicted"] == 40
    assert 1 <= after["model_calls"] - before["model_calls"] <= 40  # requests waiting together share a call
    for i, answer in enumerate(got):
        want = expected[i % 4]["predictions"]
        assert [p["label"] for p in answer["predictions"]] == [p["label"] for p in want]
        assert [p["probability"] for p in answer["predictions"]] == pytest.approx([p["probability"] for p in want],
                                                                                 abs=1e-6)
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_batcher_shares_model_calls_and_keeps_answers_apart(run_dir: Path) -> None:
    """Images that wait while the model runs go through the next call together, and each caller gets
    its own row back. The first call is held until 11 more requests are queued: exactly 2 calls."""
    import threading

    from train.predict import Predictor, resize_batch
    from train.serve import Batcher

    predictor = Predictor(run_dir)
    images = [resize_batch([np.full((8, 8, 3), v, dtype=np.uint8)], 32)[0] for v in (0, 120, 255)]
    alone = [predictor.probabilities(img[None])[0] for img in images]
    gate, entered, sizes = threading.Event(), threading.Event(), []

    class Held:
        size, classes = predictor.size, predictor.classes

        def probabilities(self, batch: np.ndarray) -> np.ndarray:
            entered.set()
            gate.wait(60)
            sizes.append(len(batch))
            return predictor.probabilities(batch)

    batcher = Batcher(Held())  # type: ignore[arg-type]
    try:
        with ThreadPoolExecutor(12) as pool:
            first = pool.submit(batcher.probabilities, images[0])
            assert entered.wait(60)  # the model call for the first image is under way (and held)
            rest = [pool.submit(batcher.probabilities, images[i % 3]) for i in range(1, 12)]
            while batcher._queue.qsize() < 11:
                time.sleep(0.01)
            gate.set()
            got = [first.result(60)] + [f.result(60) for f in rest]
    finally:
        batcher.close()
    assert sizes == [1, 11] and (batcher.calls, batcher.images) == (2, 12)
    for i, row in enumerate(got):
        np.testing.assert_allclose(row, alone[i % 3], atol=1e-5)


def test_page_has_no_external_assets(server: Server) -> None:
    r = httpx.get(server.url + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    html = r.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert '<input type="file" id="file"' in html and "simplecnn_classifier" in html


def test_serve_cli_errors_are_one_line(run_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dataclean.cli import main

    r = CliRunner().invoke(main, ["serve", str(tmp_path)])
    assert (r.exit_code, r.output) == (2, f"Error: no labels.json beside {tmp_path / 'model.keras'} "
                                          f"(expected {tmp_path / 'labels.json'})\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", str(run_dir), "--port", str(port)])
    assert (r.exit_code, r.output) == (2, f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "127.0.0.1" in help_text and "no authentication" in help_text and "Exposing it" in help_text


@pytest.mark.browser
def test_upload_page_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    """Choose a file on the page: the image shows, with its predictions."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if not Path("/usr/bin/chromedriver").exists():
        pytest.skip("needs Debian's chromium-driver (/usr/bin/chromedriver)")
    photo = tmp_path / "red.png"
    photo.write_bytes(_png((220, 30, 30)))
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=900,700"):
        opts.add_argument(arg)
    opts.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get(server.url + "/")
        assert "dataclean serve" in driver.title
        topk = driver.find_element(By.ID, "topk")
        topk.clear()
        topk.send_keys("2")
        driver.find_element(By.ID, "file").send_keys(str(photo))
        WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#predictions li")) == 2)
        labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#predictions .label")]
        assert sorted(labels) == CLASSES
        shares = [float(e.text.rstrip("%")) for e in driver.find_elements(By.CSS_SELECTOR, "#predictions .p")]
        assert shares[0] >= shares[1] and sum(shares) == pytest.approx(100, abs=0.2)
        preview = driver.find_element(By.ID, "preview")
        assert preview.is_displayed() and preview.get_attribute("src").startswith("blob:")
        assert driver.execute_script("return document.getElementById('preview').naturalWidth") == 40
        junk = tmp_path / "notes.txt"
        junk.write_text("not an image")
        driver.find_element(By.ID, "file").send_keys(str(junk))
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "error").text)
        assert driver.find_element(By.ID, "error").text.startswith("Error 415: notes.txt: not an image")
    finally:
        driver.quit()
