#!/bin/sh
# Runs a browser test with Node, or reports it skipped (77) when Node is not installed; under CI
# (CI=true), which installs Node, a missing Node is a failure.
if [ -z "$ECO_NODE" ] || [ ! -x "$ECO_NODE" ]; then
  if [ "$CI" = "true" ]; then
    echo "FAIL: Node.js not found under CI (./setup.sh installs it)"
    exit 1
  fi
  echo "skipped: Node.js not found"
  exit 77
fi
exec "$ECO_NODE" "$@"
