#!/usr/bin/env bash
# The policy engine against an independent one: installs iam-simulate (pinned, npm) into
# scripts/agree/node_modules if needed and runs every `evaluate` case of the policy corpus through it
# (scripts/agree/agree.mjs). Fails when they disagree on a case of organization.json, cross_account.json
# or evaluation_logic.json that AWS's documentation does not decide (listed with its reason).
set -euo pipefail
cd "$(dirname "$0")/agree"
if [ ! -d node_modules/@cloud-copilot/iam-simulate ]; then
  npm ci --no-audit --no-fund --silent
fi
exec node agree.mjs "$@"
