# shellcheck shell=bash
# Source me: sets up podman for machines with no Docker engine and no registry (the project's
# machines; ../../docs/emulators.md). Defines `lsp_podman`, a podman that:
#   - keeps its images under $LSPROBE_PODMAN_ROOT (default $LSPROBE_HOME/podman), so image
#     builds stay cached between runs on a kept machine;
#   - uses the vfs storage driver and runc (crun fails here: cgroups in hybrid mode);
#   - reads a containers.conf with `default_ulimits = []` (without it every start fails with
#     `setrlimit RLIMIT_NOFILE/NPROC: Operation not permitted`).
# Needs (Debian): podman buildah runc mmdebstrap.
LSPROBE_HOME=${LSPROBE_HOME:-$HOME/.cache/lsprobe}
LSPROBE_PODMAN_ROOT=${LSPROBE_PODMAN_ROOT:-$LSPROBE_HOME/podman}
mkdir -p "$LSPROBE_PODMAN_ROOT/storage" "$LSPROBE_PODMAN_ROOT/run"
cat > "$LSPROBE_PODMAN_ROOT/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
CONF
export LSPROBE_HOME LSPROBE_PODMAN_ROOT
export CONTAINERS_CONF="$LSPROBE_PODMAN_ROOT/containers.conf"

lsp_podman() {
  podman --root "$LSPROBE_PODMAN_ROOT/storage" --runroot "$LSPROBE_PODMAN_ROOT/run" \
    --storage-driver vfs --runtime runc "$@"
}
