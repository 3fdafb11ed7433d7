#!/usr/bin/env bash
# Build the operator and worker images with `docker build` from the repository root (`make images`).
#   IMAGE_REPO (default hivekeeper) and IMAGE_TAG (default dev) name them: $IMAGE_REPO/operator:$IMAGE_TAG and
#   $IMAGE_REPO/worker:$IMAGE_TAG. VERSION (default: pyproject's) goes into the org.opencontainers labels.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

repo=${IMAGE_REPO:-hivekeeper}
tag=${IMAGE_TAG:-dev}
version=${VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)}

if ! command -v docker >/dev/null 2>&1; then
  echo "images: docker is not installed; the images are built with \`docker build\` (install Docker Engine or Docker Desktop)" >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "images: no Docker engine answers (\`docker info\` failed); start one, or point DOCKER_HOST at one, then run \`make images\` again" >&2
  exit 1
fi

for image in operator worker; do
  dockerfile=operator/Dockerfile
  [[ $image == worker ]] && dockerfile=worker_image/Dockerfile
  echo "images: building $repo/$image:$tag from $dockerfile"
  docker build --file "$dockerfile" --build-arg "VERSION=$version" --tag "$repo/$image:$tag" .
done
