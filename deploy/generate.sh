#!/usr/bin/env bash
# Regenerates deploy/k8s from the AppHost's published manifest. Commit the result:
# tests/Agent33.Deploy.Tests fails while the committed files differ from what this writes.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run --project deploy/Agent33.Deploy
