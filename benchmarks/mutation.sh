#!/usr/bin/env bash
# Mutation testing of the judging code (MLPerf log parsing, analysis and scoring, compliance and
# package wrappers, references, the checks' verdicts, the report's verdict, the recipe rules):
# mutmut changes one thing at a time in the modules [tool.mutmut] lists in pyproject.toml and runs
# the fast tests that exercise the changed function; a change no test notices survives.
#
#   benchmarks/mutation.sh       # a clean run: prints the score per module, writes the mutants that
#                                # were not killed to mutants/survivors.md (with file, line, change)
#
# Exit status 0 when at least 90% are killed and every survivor is explained in
# benchmarks/mutation-survivors.md (by its mutmut name); 1 otherwise. mutmut comes with the dev
# extra (bin/bootstrap); this script installs nothing. Not part of bin/test or CI: it takes minutes
# (benchmarks/RESULTS.md, "Mutation testing"). MUTATION_JOBS sets the parallel workers (default: cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="$root/.venv/bin/python"
if [ ! -x .venv/bin/mutmut ]; then
  echo "mutation.sh: .venv/bin/mutmut not found: run bin/bootstrap (it installs the dev extra)" >&2
  exit 2
fi
# NVIDIA's published logs, found from this checkout as the tests find them (mutmut runs the tests
# from a copy in mutants/, whose parent folder holds no shared/).
ACCEPTANCE_SHARED="${ACCEPTANCE_SHARED:-$(cd tests && "$python" -c 'import conftest; print(conftest.SHARED)')}"
export ACCEPTANCE_SHARED
# mutmut puts the mutated copy (mutants/src) first on the path itself; nothing may shadow it.
unset PYTHONPATH
rm -rf mutants
mkdir mutants
started=$(date +%s)
# mutmut draws a progress line many times a second: keep its output in a file, not the terminal.
if ! .venv/bin/mutmut run --max-children "${MUTATION_JOBS:-$(nproc)}" >mutants/run.log 2>&1; then
  tail -n 40 mutants/run.log >&2
  echo "mutation.sh: mutmut failed (mutants/run.log)" >&2
  exit 2
fi
echo "mutmut: $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s on $(nproc) cores"
exec "$python" benchmarks/mutation_report.py
