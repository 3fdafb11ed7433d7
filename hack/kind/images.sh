#!/usr/bin/env bash
# Build the operator and worker images from the repository root (`make images`, `make kind-up`).
#   IMAGE_REPO (default hivekeeper) and IMAGE_TAG (default dev) name them: $IMAGE_REPO/operator:$IMAGE_TAG and
#   $IMAGE_REPO/worker:$IMAGE_TAG. VERSION (default: pyproject's) goes into the org.opencontainers labels.
# With a Docker engine that answers (`docker info`), `docker build` builds them in it (kind loads them from there).
# With none and DOCKER_HOST unset, they are built offline (docs/testing.md, "How the images are built here"): a
# throwaway dockerd in namespaces of its own, a base made from Debian packages, wheels from hack/wheelhouse; the
# result is an image archive per image under ~/.cache/hivekeeper/images, for `ctr images import`.
# A DOCKER_HOST that does not answer stays an error: it names the engine the images are meant for.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

repo=${IMAGE_REPO:-hivekeeper}
tag=${IMAGE_TAG:-dev}
version=${VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)}

engine_answers() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

if [[ -z ${DOCKER_HOST:-} ]] && ! engine_answers; then
  if [[ ! -x .venv/bin/python ]]; then
    echo "images: no Docker engine answers and .venv is missing; run \`make venv\` first for the offline build" >&2
    exit 1
  fi
  echo "images: no Docker engine answers; building offline with a throwaway engine (docs/testing.md)"
  PYTHONPATH=tests/support exec .venv/bin/python -m testbench.images --repo "$repo" --tag "$tag" --version "$version"
fi

if ! command -v docker >/dev/null 2>&1; then
  echo "images: docker is not installed; the images are built with \`docker build\` (install Docker Engine or Docker Desktop)" >&2
  exit 1
fi
if ! engine_answers; then
  echo "images: no Docker engine answers (\`docker info\` failed) at DOCKER_HOST=${DOCKER_HOST:-}; start it, or unset DOCKER_HOST to build offline, then run \`make images\` again" >&2
  exit 1
fi

for image in operator worker; do
  dockerfile=operator/Dockerfile
  [[ $image == worker ]] && dockerfile=worker_image/Dockerfile
  echo "images: building $repo/$image:$tag from $dockerfile"
  docker build --file "$dockerfile" --build-arg "VERSION=$version" --tag "$repo/$image:$tag" .
done
