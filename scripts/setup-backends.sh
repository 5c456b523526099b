#!/usr/bin/env bash
# Installs and starts what the qemu, docker and ssh backends (and their tests) need on a
# fresh Debian 12 machine, as root. Safe to run again. See docs/backends.md.
#   - qemu:   qemu-user-static + binfmt_misc registration (so whole process trees run)
#   - docker: podman serving the Docker API, with runc and the limits this machine needs,
#             and a local busybox image (nothing can be pulled here)
#   - ssh:    openssh-server and the client (the tests start their own sshd on 127.0.0.1)
# Environment: BRAMBLE_DOCKER_SOCKET (default /run/bramble/podman.sock) is where the Docker
# API service listens; BRAMBLE_DOCKER_IMAGE (default localhost/bramble-busybox:latest).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-backends: not root; skipping (the backend tests will print why they skip)" >&2
  exit 0
fi

SOCKET="${BRAMBLE_DOCKER_SOCKET:-/run/bramble/podman.sock}"
IMAGE="${BRAMBLE_DOCKER_IMAGE:-localhost/bramble-busybox:latest}"
PACKAGES=(qemu-user-static binfmt-support busybox-static openssh-server openssh-client podman runc uidmap tar procps curl)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-backends: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# qemu: binfmt_misc, so aarch64 binaries (and their children) run, also inside bwrap.
if [ -d /proc/sys/fs/binfmt_misc ]; then
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 2>/dev/null || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || echo "setup-backends: could not register qemu-aarch64 with binfmt_misc" >&2
fi

# ssh: sshd's privilege separation directory (the tests run their own sshd).
mkdir -p /run/sshd

# docker: podman needs runc (crun fails on this cgroup setup), cgroupfs and lower limits.
# A drop-in, so an existing containers.conf is left alone.
mkdir -p /etc/containers/containers.conf.d
if [ ! -e /etc/containers/containers.conf.d/bramble.conf ]; then
  cat > /etc/containers/containers.conf.d/bramble.conf <<'CONF'
# bramble: settings podman needs on this kind of machine (see docs/backends.md)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi

# The build image: static busybox, made locally (nothing can be pulled).
if ! podman image exists "$IMAGE" 2>/dev/null; then
  echo "setup-backends: creating $IMAGE from busybox-static"
  root="$(mktemp -d)"
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
  echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
  echo "root:x:0:" > "$root/etc/group"
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
  rm -rf "$root"
fi

# The Docker API on a unix socket, for as long as the machine runs.
mkdir -p "$(dirname "$SOCKET")"
if ! curl -sf --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; then
  rm -f "$SOCKET"
  nohup podman system service --time=0 "unix://$SOCKET" >/var/log/bramble-podman.log 2>&1 &
  for _ in $(seq 1 50); do [ -S "$SOCKET" ] && break; sleep 0.2; done
fi
[ -S "$SOCKET" ] && echo "setup-backends: Docker API at unix://$SOCKET, image $IMAGE" || echo "setup-backends: the podman service did not start (see /var/log/bramble-podman.log)" >&2
