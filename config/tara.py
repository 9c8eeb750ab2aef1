"""ReFrame configuration: ``reframe -C config/tara.py -c checks/ -r``.

Systems are the files in ``config/systems/`` (one per system, each defining ``system``, a ReFrame
systems entry), tried by host name in file-name order with the local fallback last; the CI
cluster is selected with ``--system ci-cluster`` only. Every system passes through
``systems.common.normalise``, which refuses unknown features and extras keys, naming them. Adding
a system is a file there plus reference entries in ``resources/references/`` (no check changes).
Reference files are checked here too, so a broken one stops the run before any job is submitted.
"""

import glob
import importlib
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
# Appended, never inserted: ReFrame 4.10 loads this file inside a context that appends this folder
# and then pops sys.path at that index, so an insert(0) here made it drop site-packages instead
# (and with it polars: `--performance-compare` and the stored-session queries failed).
sys.path.append(_HERE)
# The checks import the harness (src/acceptance); make it importable without installing it.
sys.path.append(os.path.join(os.path.dirname(_HERE), "src"))

import launchers  # noqa: E402,F401  (registers the torchrun launcher)
from systems.common import normalise  # noqa: E402

from acceptance.suite import references  # noqa: E402

_NOT_SYSTEMS = {"__init__", "common"}
_LAST = "local"  # its host-name pattern matches everything


def _systems() -> list[dict]:
    names = sorted(
        os.path.splitext(os.path.basename(path))[0] for path in glob.glob(os.path.join(_HERE, "systems", "*.py"))
    )
    names = [n for n in names if n not in _NOT_SYSTEMS and n != _LAST] + [_LAST]
    found = []
    for name in names:
        module = importlib.import_module(f"systems.{name}")
        entries = getattr(module, "systems", None) or [getattr(module, "system", None)]
        if not all(isinstance(e, dict) for e in entries):
            raise ValueError(f"config/systems/{name}.py defines no 'system' dict (ReFrame's systems schema)")
        found += [normalise(entry, f"config/systems/{name}.py") for entry in entries]
    return found


_SYSTEMS = _systems()
references.validate_all()

# One perflog record per test run, one field per '|': when, where, which test (its hashcode tells
# repeats apart), its result, the nodes it ran on, scale and recipe, every performance variable with
# its reference and verdict, where the reference comes from, and whether it is no MLPerf result.
# ReFrame joins the performance variables with the last character of _PERFVAR_FORMAT and appends
# nothing after the last one: the format's own '|' after %(check_perfvalues)s ends that field.
_PERFLOG_FORMAT = (
    "%(check_job_completion_time)s|%(check_system)s:%(check_partition)s|%(check_environ)s|"
    "%(check_name)s|%(check_hashcode)s|%(check_result)s|%(check_job_nodelist)s|"
    "nodes=%(check_num_nodes)s|recipe=%(check_recipe)s|jobid=%(check_jobid)s|"
    "%(check_perfvalues)s|source=%(check_reference_source)s|%(check_banner)s"
)
# Values to 4 significant digits: a %-format spec, which ReFrame 4.10 applies to each variable (an
# integer prints as one). Its header line, generated from the format, does not know specs and names
# that column "VAR_value).4g %(VAR_unit"; the records are right. The bounds are fractions of the reference.
_PERFVAR_FORMAT = (
    "%(check_perf_var)s=%(check_perf_value).4g %(check_perf_unit)s "
    "(ref %(check_perf_ref)s, bounds %(check_perf_lower_thres)s..%(check_perf_upper_thres)s: "
    "%(check_perf_result)s)|"
)

site_configuration = {
    "systems": _SYSTEMS,
    "environments": [
        {
            # The workload's interpreter is named by the checks (the venv on the host, the image's
            # in a container); the partition's container platform loads its own module.
            "name": "maskrcnn",
            "features": ["maskrcnn"],
            "target_systems": [s["name"] for s in _SYSTEMS],
        },
    ],
    "logging": [
        {
            "level": "debug",
            "handlers": [
                {"type": "stream", "name": "stdout", "level": "info", "format": "%(message)s"},
                {
                    "type": "file",
                    "name": "reframe.log",
                    "level": "debug",
                    "format": "[%(asctime)s] %(levelname)s: %(check_info)s: %(message)s",
                    "append": False,
                },
            ],
            "handlers_perflog": [
                {
                    "type": "filelog",
                    "prefix": "%(check_system)s/%(check_partition)s",
                    "level": "info",
                    "format": _PERFLOG_FORMAT,
                    "format_perfvars": _PERFVAR_FORMAT,
                    "append": True,
                }
            ],
        }
    ],
    # ReFrame's results database (every session, for `acceptance history` and
    # `reframe --performance-compare`): $ACCEPTANCE_REPORT_DIR/results.db, else reports/results.db
    # under the working directory; RFM_SQLITE_DB_FILE moves it, RFM_ENABLE_RESULTS_STORAGE=0 turns it off.
    "storage": [
        {
            "enable": True,
            # Relative paths stay relative: ReFrame reads this file from within config/.
            "sqlite_db_file": os.path.join(os.environ.get("ACCEPTANCE_REPORT_DIR", "reports"), "results.db"),
        }
    ],
    "general": [
        {
            # checks/ holds mlperf/ and system/: load them with the plain '-c checks/'.
            "check_search_recursive": True,
            "report_file": "reports/runs/run-report-{sessionid}.json",
        }
    ],
    "modes": [
        # The acceptance suite: the system checks and a v0.7 score, five 4-node time-to-train runs
        # (MaskRCNNBenchmarkScore judges their olympic mean), one job at a time.
        {
            "name": "acceptance",
            "options": ["--tag=acceptance", "--setvar=MaskRCNNBenchmark.runs=5", "--exec-policy=serial",
                        "--performance-report"],  # fmt: skip
        },
        # Everything that runs at smoke scale (the local fallback and the CI cluster).
        {"name": "smoke", "options": ["--tag=smoke", "--performance-report"]},
        # Throughput runs: img/s and the projected v0.7 score, minutes instead of hours.
        {"name": "benchmark", "options": ["--tag=benchmark", "--exec-policy=serial", "--performance-report"]},
    ],
}
