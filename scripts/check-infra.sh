#!/usr/bin/env bash
# Lints the SAM stack: cfn-lint must report nothing, checkov must pass with every check that
# does not apply skipped, with its reason, inside infra/template.yaml itself, and the upload
# rule's event pattern must match photos and not the console's folder objects.
# Usage: bash scripts/check-infra.sh [VENV_BIN]   (default: target/py/bin), where the venv holds
# tools/python/requirements.txt:
#   python3 -m venv target/py && target/py/bin/pip install -r tools/python/requirements.txt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${1:-target/py/bin}"
for tool in cfn-lint checkov python; do
    [[ -x "$bin/$tool" ]] || { echo "check-infra: no $bin/$tool; install tools/python/requirements.txt into that venv" >&2; exit 2; }
done

"$bin/cfn-lint" infra/template.yaml
# --skip-download: checkov would otherwise fetch check metadata from Prisma Cloud, which is
# unreachable offline; it changes no check and no skip.
"$bin/checkov" -f infra/template.yaml --framework cloudformation --compact --quiet --skip-download
# The upload rule's pattern against sample S3 events (moto's EventBridge matcher): photos match,
# the console's zero-byte "folder/" objects do not.
"$bin/python" scripts/check-event-pattern.py infra/template.yaml
