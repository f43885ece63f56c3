"""`dataclean serve` throughput: requests/s and latency under 8 concurrent clients (and 1, side by side).

Starts a real `dataclean serve` process on a free localhost port, then POSTs real photos to
/predict from client threads (httpx, one connection each) and reports requests/s and latency
percentiles. Without RUN_DIR a simplecnn at 128 px is built untrained (the cost of a prediction does
not depend on the weights).

    python benchmarks/serve.py                         # simplecnn 128 px, clothing test photos
    python benchmarks/serve.py runs/demo --requests 400 --clients 8
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"
PHOTOS = Path("/work/shared/data/clothing-dataset-small/test")


def untrained_run(size: int) -> Path:
    code = ("import sys\nfrom train.tfenv import import_tensorflow\nimport_tensorflow()\n"
            "from train.model import build_model\nfrom train.run import save_model\nfrom dataclean.io import write_json\n"
            "from pathlib import Path\nrun = Path(sys.argv[1])\n"
            f"save_model(build_model('simplecnn', 2, {size}, None, seed=0), run / 'model.keras')\n"
            "write_json({'0': 'pants', '1': 't-shirt'}, run / 'labels.json')\n")
    run = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    subprocess.run([sys.executable, "-c", code, str(run)], check=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    return run


def start(run: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from dataclean.cli import run; run()", "serve", str(run),
                             "--port", str(port)], env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(url + "/health", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    sys.exit("server did not start")


def load(url: str, photos: list[bytes], requests: int, clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        with httpx.Client(timeout=120) as c:
            for i in counter:
                t = time.perf_counter()
                r = c.post(url + "/predict", files={"file": ("p.jpg", photos[i % len(photos)], "image/jpeg")})
                r.raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", type=Path, default=None, help="run directory [default: untrained simplecnn]")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    args = ap.parse_args()

    photos = [p.read_bytes() for p in sorted(args.photos.rglob("*.jpg"))[:64]]
    run = args.run or untrained_run(args.image_size)
    proc, url = start(run)
    try:
        health = httpx.get(url + "/health").json()
        print(f"model {health['model']} at {health['image_size']} px; {len(photos)} distinct JPEG photos "
              f"({sum(map(len, photos)) / len(photos) / 1024:.0f} KB on average); 2 CPU cores shared with other "
              "processes: the server, its clients and whatever else runs compete for them")
        load(url, photos, 16, 2)  # warm-up: first calls trace the model
        results = {}
        for clients in (1, args.clients):
            before = httpx.get(url + "/health").json()
            wall, lat = load(url, photos, args.requests, clients)
            after = httpx.get(url + "/health").json()
            calls = max(1, after["model_calls"] - before["model_calls"])
            per_call = (after["images_predicted"] - before["images_predicted"]) / calls
            results[clients] = args.requests / wall
            q = statistics.quantiles(lat, n=20)
            print(f"{clients} client(s): {args.requests} requests in {wall:.1f} s = {args.requests / wall:.1f} requests/s; "
                  f"latency p50 {statistics.median(lat) * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms; "
                  f"{per_call:.2f} images per model call")
        print(f"{args.clients} clients vs 1: {results[args.clients] / results[1]:.2f}x the requests/s")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
