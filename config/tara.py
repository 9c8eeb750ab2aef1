"""ReFrame configuration: ``reframe -C config/tara.py -c checks/ -r``.

Systems, in the order ReFrame tries their host names: TARA and LANTA (by host name), the CI
cluster (``--system ci-cluster`` only), and the local fallback for any other host. Each system
lives in ``config/systems/<name>.py``; adding one is a file there plus reference entries in
``resources/references/`` (no change to checks).
"""

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
from systems import ci_cluster, lanta, local, tara  # noqa: E402

# One perflog record per test run: where, what scale, which recipe, every performance variable
# with its reference and verdict, and where the reference comes from.
_PERFLOG_FORMAT = (
    "%(check_job_completion_time)s|%(check_system)s:%(check_partition)s|%(check_environ)s|"
    "%(check_name)s|nodes=%(check_num_nodes)s|recipe=%(check_recipe)s|jobid=%(check_jobid)s|"
    "%(check_perfvalues)ssource=%(check_reference_source)s"
)
_PERFVAR_FORMAT = (
    "%(check_perf_var)s=%(check_perf_value)s %(check_perf_unit)s "
    "(ref %(check_perf_ref)s, %(check_perf_lower_thres)s..%(check_perf_upper_thres)s: %(check_perf_result)s)|"
)

site_configuration = {
    "systems": [tara.system, lanta.system, ci_cluster.system, local.system],
    "environments": [
        {
            # The workload's Python: the venv on the host, or the container image's (the image is
            # set by the check, and the partition's container platform loads its module).
            "name": "maskrcnn",
            "features": ["maskrcnn"],
            "target_systems": ["tara", "lanta", "ci-cluster", "local"],
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
            # A check file that fails to load is an error, never a silent pass with fewer checks.
            "report_file": "reports/runs/run-report-{sessionid}.json",
        }
    ],
    "modes": [
        # The acceptance suite: 4-node time-to-train runs and the system checks, one at a time.
        {"name": "acceptance", "options": ["--tag=acceptance", "--exec-policy=serial", "--performance-report"]},
        # Everything that runs at smoke scale (the local fallback and the CI cluster).
        {"name": "smoke", "options": ["--tag=smoke", "--performance-report"]},
        # Throughput runs: img/s and a projected time-to-train, minutes instead of hours.
        {"name": "benchmark", "options": ["--tag=benchmark", "--exec-policy=serial", "--performance-report"]},
    ],
}
