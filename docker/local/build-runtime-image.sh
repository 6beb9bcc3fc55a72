#!/usr/bin/env bash
# Builds lsprobe's runtime image -- the final stage of docker/Dockerfile -- on a machine with no
# registry and no Docker engine, from Debian's packages:
#   1. mmdebstrap: a minbase bookworm root filesystem with the Dockerfile's RUNTIME_PACKAGES (read
#      from the Dockerfile itself), slimmed as Debian's -slim images are, and the same user
#      (65532:65532, home /home/lsprobe) made by the same groupadd/useradd;
#   2. podman build FROM scratch: that root filesystem, the given lsprobe binary as
#      /usr/local/bin/lsprobe, and the Dockerfile's USER, WORKDIR, ENTRYPOINT, CMD and labels.
#
#   bash docker/local/build-runtime-image.sh [LSPROBE_BINARY]
#
# The binary: the argument, else $LSPROBE_BINARY, else target/release/lsprobe, else
# target/debug/lsprobe (under $CARGO_TARGET_DIR when set). The image is tagged
# $LSPROBE_IMAGE (default localhost/lsprobe:local) and localhost/lsprobe:content-<hash>; the
# last line on stdout is the content tag (its name cannot be moved by another build).
# $LSPROBE_IMAGE_SOURCE fills the org.opencontainers.image.source label (the Dockerfile's SOURCE).
#
# Cached by content under $LSPROBE_HOME/runtime-image: the root filesystem is made again only
# when the package list, suite, mirrors or slimming change; the image only when the root
# filesystem, the binary or the image's settings change (remove $LSPROBE_HOME/runtime-image to
# take Debian's newer updates of the same packages). Needs (Debian): podman buildah runc
# mmdebstrap; reaches deb.debian.org (or $LSPROBE_DEBIAN_MIRROR).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/podman-env.sh
source "$here/podman-env.sh"

die() {
  echo "build-runtime-image.sh: $*" >&2
  exit 2
}
say() { echo "build-runtime-image.sh: $*" >&2; }

for tool in podman mmdebstrap sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool is not installed; install it with: apt-get install -y podman buildah runc mmdebstrap"
done

target_dir=${CARGO_TARGET_DIR:-$repo/target}
binary=${1:-${LSPROBE_BINARY:-}}
if [ -z "$binary" ]; then
  for candidate in "$target_dir/release/lsprobe" "$target_dir/debug/lsprobe"; do
    if [ -x "$candidate" ]; then
      binary=$candidate
      break
    fi
  done
  [ -n "$binary" ] || die "no lsprobe binary under $target_dir: run \`cargo build --release\` first, or pass the binary's path as the argument (or LSPROBE_BINARY)"
fi
[ -f "$binary" ] && [ -x "$binary" ] || die "LSPROBE_BINARY / argument: $binary is not an executable file; pass the path of a built lsprobe"
version=$("$binary" --version | awk '{print $2}') ||
  die "$binary --version failed: is it an lsprobe binary for this machine?"

dockerfile=$repo/docker/Dockerfile
packages=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$dockerfile")
[ -n "$packages" ] || die "$dockerfile: no line ARG RUNTIME_PACKAGES=\"...\" (the runtime stage's package list)"
for p in $packages; do
  case $p in
  *=?*) ;;
  *) die "$dockerfile: RUNTIME_PACKAGES entry '$p' is not pinned; write it as name=version" ;;
  esac
done

image=${LSPROBE_IMAGE:-localhost/lsprobe:local}
mirror=${LSPROBE_DEBIAN_MIRROR:-http://deb.debian.org}
suite=bookworm
sources=(
  "deb $mirror/debian $suite main"
  "deb $mirror/debian $suite-updates main"
  "deb $mirror/debian-security $suite-security main"
)
# As Debian's -slim images: no documentation, manual pages or translations (copyrights stay).
slim=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
)
# The Dockerfile's user, made by the same commands ($1 is the root mmdebstrap gives its hook).
# shellcheck disable=SC2016
user_hook='chroot "$1" groupadd --gid 65532 lsprobe && chroot "$1" useradd --uid 65532 --gid 65532 --create-home --home-dir /home/lsprobe --shell /usr/sbin/nologin lsprobe'

cache=$LSPROBE_HOME/runtime-image
mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9

hash_of() { sha256sum | cut -c1-16; }

rootfs_key=$(printf '%s\n' "$suite" "$packages" "${sources[@]}" "${slim[@]}" "$user_hook" merged-usr | hash_of)
rootfs=$cache/rootfs-$rootfs_key.tar
if [ -s "$rootfs" ]; then
  say "root filesystem cached: $rootfs"
else
  say "making the root filesystem (mmdebstrap minbase $suite + $packages; about a minute)"
  start=$SECONDS
  partial=$cache/partial-rootfs.tar
  # stdin from /dev/null: mmdebstrap reads sources from a stdin that is not a terminal.
  mmdebstrap --quiet --format=tar --variant=minbase --include="${packages// /,}" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${slim[@]}" \
    --customize-hook="$user_hook" \
    "$suite" "$partial" "${sources[@]}" </dev/null >&2 ||
    die "mmdebstrap failed (see above): is $mirror reachable, and is every RUNTIME_PACKAGES version still in $suite?"
  mv "$partial" "$rootfs"
  # Older root filesystems (another package list) are no longer used.
  find "$cache" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$rootfs_key.tar" -delete
  say "root filesystem made in $((SECONDS - start)) s"
fi

containerfile=$(
  cat <<EOF
FROM scratch
ADD rootfs.tar /
COPY lsprobe /usr/local/bin/lsprobe
LABEL org.opencontainers.image.title="lsprobe" \\
      org.opencontainers.image.description="Proves that a bucket is fit to be Label Studio's persistent storage, and fast enough" \\
      org.opencontainers.image.licenses="Apache-2.0" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.source="${LSPROBE_IMAGE_SOURCE:-}" \\
      org.lsprobe.built-by="docker/local/build-runtime-image.sh"
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
WORKDIR /home/lsprobe
ENTRYPOINT ["/usr/local/bin/lsprobe"]
CMD ["--help"]
EOF
)

content=$({
  sha256sum <"$rootfs"
  sha256sum <"$binary"
  printf '%s\n' "$containerfile"
} | hash_of)
content_tag=localhost/lsprobe:content-$content

if lsp_podman image exists "$content_tag"; then
  say "image cached: $content_tag"
else
  say "building $content_tag from $binary"
  start=$SECONDS
  context=$(mktemp -d "$cache/context.XXXXXX")
  trap 'rm -rf "$context"' EXIT
  ln "$rootfs" "$context/rootfs.tar" 2>/dev/null || cp "$rootfs" "$context/rootfs.tar"
  cp "$binary" "$context/lsprobe"
  chmod 0755 "$context/lsprobe"
  printf '%s\n' "$containerfile" >"$context/Containerfile"
  # One commit at the end: with the vfs driver each committed step copies the whole tree
  # (measured: 55 s per build with --layers, 11 s without; the root filesystem is cached anyway).
  lsp_podman build --quiet --layers=false -f "$context/Containerfile" -t "$content_tag" "$context" >&2 ||
    die "podman build failed (see above)"
  rm -rf "$context"
  trap - EXIT
  say "image built in $((SECONDS - start)) s"
  # Keep the three newest content images (another build may still be using a recent one).
  lsp_podman images --sort created --format '{{.Repository}}:{{.Tag}}' localhost/lsprobe |
    grep ':content-' | tail -n +4 | while read -r old; do
    lsp_podman rmi "$old" >/dev/null 2>&1 || true
  done
fi
lsp_podman tag "$content_tag" "$image"
say "$image = $content_tag ($(lsp_podman image inspect --format '{{.Size}}' "$content_tag") bytes)"
echo "$content_tag"
