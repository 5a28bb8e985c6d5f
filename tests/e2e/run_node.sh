#!/bin/sh
# Runs a browser test with Node, or reports it skipped (77) when Node is not installed.
if [ -z "$ECO_NODE" ] || [ ! -x "$ECO_NODE" ]; then
  echo "skipped: Node.js not found"
  exit 77
fi
exec "$ECO_NODE" "$@"
