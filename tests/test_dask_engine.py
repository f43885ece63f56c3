"""The Dask engine against real clusters started by the tests: a LocalCluster, and the `dask scheduler` /
`dask worker` commands. Outputs must equal the local engine's, also when a worker dies mid-audit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dataclean.audit import run_audit
from dataclean.cli import main
from s3_helpers import S3, s3  # noqa: F401 - the fixture
from scale_helpers import comparable, copy_tree, jpeg_bytes, make_small_dataset, slow_png, summary_core

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dask") / "data"
    make_small_dataset(root, n_per_class=12)
    return root


@pytest.fixture(scope="module")
def cluster(s3: S3) -> Iterator[distributed.LocalCluster]:  # noqa: F811 - after s3: workers inherit its credentials
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


def _local(root: Path):  # type: ignore[no-untyped-def]
    return run_audit(root, workers=0)


def test_local_folder_on_a_cluster_equals_the_local_engine(dataset: Path, cluster: distributed.LocalCluster) -> None:
    got = run_audit(dataset, workers=2, engine="dask", scheduler=cluster.scheduler_address)
    want = _local(dataset)
    assert comparable(got, drop=()) == comparable(want, drop=())
    assert summary_core(got) == summary_core(want) and got.summary["parameters"]["engine"] == "dask"


def test_s3_bucket_on_a_cluster_equals_a_local_audit(dataset: Path, s3: S3, cluster: distributed.LocalCluster) -> None:  # noqa: F811
    s3.client.create_bucket(Bucket="clustered")
    s3.upload_dir("clustered", "set", dataset)
    url = "s3://clustered/set"
    got = run_audit(url, workers=2, engine="dask", scheduler=cluster.scheduler_address)  # endpoint: AWS_ENDPOINT_URL
    assert got.table["root"] == [url] * len(got.table)
    assert comparable(got) == comparable(_local(dataset))
    assert summary_core(got) == summary_core(_local(dataset))


def test_killing_a_worker_mid_audit_changes_nothing(dataset: Path, cluster: distributed.LocalCluster,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclean.engine.dask as engine

    monkeypatch.setattr(engine, "TASK_FILES", 1)  # one file per task: many tasks in flight when the worker dies
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        pids = client.run(os.getpid)  # worker address -> pid
    victim = sorted(pids.values())[0]
    killed: list[int] = []

    def on_progress(n: int) -> None:
        if not killed:  # the first finished task: the others are queued or running
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    got = run_audit(dataset, workers=2, engine="dask", scheduler=cluster.scheduler_address, on_progress=on_progress)
    assert killed == [victim]
    assert comparable(got, drop=()) == comparable(_local(dataset), drop=())
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the dead worker
        assert victim not in client.run(os.getpid).values()


PLUGIN_PREFIX = "dataclean-source-"


def _held_by_the_scheduler(dask_scheduler: distributed.Scheduler) -> tuple[list[bytes], dict[str, bytes]]:
    """What the scheduler holds for the tasks in flight (their run_spec: function and arguments,
    pickled as it would send them) and the worker plugins dataclean registered (name -> pickle)."""
    import pickle

    return ([pickle.dumps(ts.run_spec) for ts in dask_scheduler.tasks.values() if ts.run_spec is not None],
            {k: v for k, v in dask_scheduler.worker_plugins.items() if k.startswith(PLUGIN_PREFIX)})


def _plugins_on_workers(dask_worker: distributed.Worker) -> list[str]:
    return [name for name in dask_worker.plugins if name.startswith(PLUGIN_PREFIX)]


def test_storage_secrets_go_to_each_worker_once_not_into_tasks(dataset: Path, s3: S3,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials given as storage options reach the workers as a worker plugin: no task argument the
    scheduler holds contains the secret, a worker restarted mid-audit gets it too, and it is gone after."""
    import logging

    import dataclean.engine.dask as engine

    s3.client.create_bucket(Bucket="secretive")
    s3.upload_dir("secretive", "set", dataset)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):  # only the options authenticate
        monkeypatch.delenv(name)
    monkeypatch.setattr(engine, "TASK_FILES", 1)  # many tasks held by the scheduler when the first one is done
    options = {"key": s3.key, "secret": s3.secret, "endpoint_url": s3.endpoint}
    secret = s3.secret.encode()
    seen: dict[str, Any] = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        victim = sorted(client.run(os.getpid).values())[0]

        def on_progress(n: int) -> None:
            if seen:
                return
            seen["tasks"], seen["plugins"] = client.run_on_scheduler(_held_by_the_scheduler)
            os.kill(victim, signal.SIGKILL)  # the nanny starts a new worker: it must get the Source as well
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pids = list(client.run(os.getpid, on_error="return").values())
                if len(pids) == 2 and all(isinstance(p, int) and p != victim for p in pids):
                    break
                time.sleep(0.1)
            seen["workers"] = list(client.run(_plugins_on_workers).values())

        got = run_audit("s3://secretive/set", workers=2, engine="dask", scheduler=cluster.scheduler_address,
                        storage_options=options, on_progress=on_progress)
        assert len(seen["tasks"]) >= 10
        assert all(b"secretive/set/" in spec for spec in seen["tasks"])  # the tasks' arguments are in there ...
        assert not [spec for spec in seen["tasks"] if secret in spec]  # ... and the secret is not
        [name] = seen["plugins"]
        assert secret in seen["plugins"][name]  # held once, as the plugin (for workers that join later)
        assert victim not in client.run(os.getpid).values() and seen["workers"] == [[name], [name]]
        assert comparable(got) == comparable(_local(dataset))
        assert client.run_on_scheduler(_held_by_the_scheduler)[1] == {}  # unregistered at the end ...
        assert list(client.run(_plugins_on_workers).values()) == [[], []]  # ... and forgotten by the workers


def test_a_file_over_the_time_limit_is_the_local_engines_row(dataset: Path, tmp_path: Path,
                                                             cluster: distributed.LocalCluster) -> None:
    """A file that keeps the decoder busy past the per-file limit is a decode_error row on Dask too (the
    task is not stuck on it), the same row as the local pool's. This process runs a Dask scheduler, whose
    gc callback the pool's forked workers inherit: an alarm raised inside it is lost, and must repeat."""
    root = tmp_path / "data"
    copy_tree(dataset, root)
    (root / "cats" / "slow.png").write_bytes(slow_png())
    started = time.monotonic()
    got = run_audit(root, workers=2, engine="dask", scheduler=cluster.scheduler_address, timeout=1)
    want = run_audit(root, workers=2, timeout=1)
    assert time.monotonic() - started < 30  # the file alone takes ~7 s to parse on a quiet core, per engine
    assert comparable(got, drop=()) == comparable(want, drop=())
    row = got.table["path"].index("cats/slow.png")
    assert (got.table["error"][row], got.table["error_detail"][row]) == ("decode_error", "decoding took longer than 1 s")


def test_local_cluster_started_by_the_cli(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(dataset), "-o", str(out), "-j", "2", "--engine", "dask", "-q", "--no-cache"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"] == 27 and summary["parameters"]["engine"] == "dask"


def test_local_cluster_is_quiet_when_the_dashboard_port_is_taken(dataset: Path, tmp_path: Path) -> None:
    """Port 8787 held (a notebook's dashboard, another cluster): the audit's own cluster uses a free port
    and prints nothing, where Dask's default scheduler warned "Port 8787 is already in use" on stderr."""
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            held.bind(("0.0.0.0", 8787))
            held.listen()
        except OSError:
            pass  # already held by someone else: as good
        res = subprocess.run([str(Path(sys.executable).parent / "dataclean"), "audit", str(dataset), "-o", str(tmp_path / "out"),
                              "-j", "2", "--engine", "dask", "-q", "--no-cache"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["files"] == 27


def test_a_local_cluster_leaves_no_process_or_thread_behind(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The LocalCluster an audit starts is gone (its worker processes too) by the time the audit returns,
    and the nanny's poll interval is Dask's again."""
    import threading

    import psutil
    from distributed.nanny import WorkerProcess

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    interval = WorkerProcess._init_msg_interval
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    threads = set(threading.enumerate())
    got = run_audit(dataset, workers=2, engine="dask")
    assert comparable(got, drop=()) == comparable(_local(dataset), drop=())
    assert set(threading.enumerate()) <= threads  # Dask's event loop and process watchers stopped
    assert {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE} <= children
    assert WorkerProcess._init_msg_interval == interval


def test_nanny_poll_interval_comes_back_when_cluster_starts_overlap() -> None:
    """Two audits in one process start clusters at once (A starts, B starts, A is up, B is up): the
    nanny's poll interval is fast until both are up, then Dask's own again, whatever the order."""
    from distributed.nanny import WorkerProcess

    from dataclean.engine.dask import _prompt_worker_start

    dask_value = WorkerProcess._init_msg_interval
    a, b = _prompt_worker_start(), _prompt_worker_start()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert WorkerProcess._init_msg_interval == min(dask_value, 0.005)
    b.__exit__(None, None, None)
    assert WorkerProcess._init_msg_interval == dask_value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dask_commands(tmp_path: Path) -> Iterator[str]:
    """`dask scheduler` and one `dask worker` as processes; yields the scheduler's address."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    sched = subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)
    worker = subprocess.Popen([str(bindir / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                               "--host", "127.0.0.1", "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)
    try:
        with distributed.Client(address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in (worker, sched):
            proc.terminate()
        for proc in (worker, sched):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def test_dask_scheduler_and_worker_commands(dataset: Path, dask_commands: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_commands)  # no --scheduler: the environment names it
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(dataset), "-o", str(out), "--engine", "dask", "--examples", "0"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "summary.json").read_text())["cache"] == {"hits": 0, "misses": 27}
    (dataset / "cats" / "late.jpg").write_bytes(jpeg_bytes(31337))
    try:
        res = CliRunner().invoke(main, ["audit", str(dataset), "-o", str(out), "--engine", "dask", "--scheduler",
                                        dask_commands, "--examples", "0"])
        assert res.exit_code == 0, res.output
        assert res.output.splitlines()[0] == "27 unchanged, 1 inspected"
        got = run_audit(dataset, engine="dask", scheduler=dask_commands)
        assert comparable(got, drop=()) == comparable(_local(dataset), drop=())
    finally:
        (dataset / "cats" / "late.jpg").unlink()


def test_a_scheduler_that_does_not_answer_is_a_one_line_error(dataset: Path, tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "out"
    started = time.perf_counter()
    res = CliRunner().invoke(main, ["audit", str(dataset), "-o", str(out), "--engine", "dask", "--scheduler", address])
    assert res.exit_code == 2
    assert res.output.startswith(f"Error: cannot reach the Dask scheduler at {address}: ") and res.output.count("\n") == 1
    assert not out.exists() and time.perf_counter() - started < 60


def test_scheduler_without_dask_engine_is_refused(dataset: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["audit", str(dataset), "-o", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and res.output.strip() == "Error: --scheduler tcp://127.0.0.1:1 needs --engine dask"


