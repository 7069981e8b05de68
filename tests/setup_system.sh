#!/usr/bin/env bash
# System packages for the real-component tests (run as root by tests/run.sh).
set -euo pipefail
need=()
for pkg in git time; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Containers (tests/test_execute_container.py): podman and docker from Debian's packages, an image
# built with no registry from busybox-static. podman with its recommends (catatonit for --init).
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in podman runc busybox-static docker.io; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq podman runc busybox-static >/dev/null
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
# These machines have hybrid cgroups and no CAP_SYS_RESOURCE: crun and podman's default rlimits fail.
mkdir -p /etc/containers/containers.conf.d
cat > /etc/containers/containers.conf.d/50-local.conf <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
# dockerd in the background (the docker_engine fixture also starts one if none answers).
if command -v dockerd >/dev/null && ! docker version >/dev/null 2>&1; then
  setsid dockerd >/var/log/mlvc-test-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
fi
