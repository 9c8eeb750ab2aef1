"""Reference files against their schema, and the lookup's most-specific rule (pure functions, no ReFrame)."""

import pytest

from acceptance.suite import references
from acceptance.suite.references import ReferenceError_
from conftest import resources_with

GOOD = """\
- check: maskrcnn
  system: s:p
  nodes: 1
  implementation: bundled
  mode: time-to-train
  source: measured
  perf:
    time_to_train: {value: 10.0, lower: null, upper: 0.1, unit: min}
    throughput: {value: 5, lower: -0.2, upper: null, unit: img/s}
"""


def write(tmp_path, text: str, name: str = "test.yaml"):
    (tmp_path / name).write_text(text)
    return tmp_path


def refusal(tmp_path, text: str) -> str:
    with pytest.raises(ReferenceError_) as err:
        references.validate_all(write(tmp_path, text))
    return str(err.value)


def test_the_project_references_pass_their_schema():
    entries = references.validate_all()
    assert {e.check for e in entries} == set(references.CHECKS)
    assert all(e.source for e in entries)


def test_a_good_entry_reads_as_reframe_wants_it(tmp_path):
    found = references.find("maskrcnn", "s:p", 1, "bundled", "time-to-train", folder=write(tmp_path, GOOD))
    assert found.for_reframe() == {
        "s:p": {"time_to_train": (10.0, None, 0.1, "min"), "throughput": (5.0, -0.2, None, "img/s")}
    }
    assert found.origin == f"{tmp_path / 'test.yaml'}:1 (entry 0)"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("upper: 0.1,", "uper: 0.1,", "perf.time_to_train: unknown key 'uper' (allowed: value, lower, upper, unit)"),
        ("upper: 0.1,", "", "perf.time_to_train: lacks 'upper' (write null to leave a side open)"),
        ("  mode: time-to-train", "  mdoe: time-to-train", "unknown key 'mdoe' for check maskrcnn"),
        ("  nodes: 1", "  node: 1", "unknown key 'node' for check maskrcnn"),
        ("value: 10.0", "value: ten", "perf.time_to_train: value 'ten' is not a number"),
        ("value: 10.0", "value: .inf", "perf.time_to_train: value inf is not a number"),
        ("upper: 0.1", "upper: '0.1'", "perf.time_to_train: upper '0.1' must be null or a fraction >= 0"),
        ("upper: 0.1", "upper: -0.1", "perf.time_to_train: upper -0.1 must be null or a fraction >= 0"),
        ("lower: -0.2", "lower: 0.2", "perf.throughput: lower 0.2 must be null or a fraction in [-1, 0]"),
        ("lower: -0.2", "lower: -20", "perf.throughput: lower -20 must be null or a fraction in [-1, 0]"),
        (", unit: min", "", "perf.time_to_train: lacks 'unit'"),
        (
            "unit: min",
            "unit: s",
            "perf.time_to_train: unit 's' is not 'min', the unit maskrcnn reports time_to_train in",
        ),
        ("time_to_train:", "time_to_trian:", "perf.time_to_trian: check maskrcnn reports no such variable"),
        ("mode: time-to-train", "mode: time_to_train", "mode 'time_to_train' is not one of time-to-train, throughput"),
        ("implementation: bundled", "implementation: nvidia", "implementation 'nvidia' is not one of bundled, nvid"),
        ("nodes: 1", "nodes: two", "nodes 'two' is not a node count the checks run (1, 2, 4) or 'any'"),
        ("nodes: 1", "nodes: 8", "nodes 8 is not a node count the checks run"),
        ("nodes: 1", "nodes: '1'", "nodes '1' is not a node count the checks run"),
        ("nodes: 1", "nodes: true", "nodes True is not a node count the checks run"),
        ("check: maskrcnn", "check: maskcnn", "check 'maskcnn' is not a known check (maskrcnn, allreduce, "),
        ("system: s:p", "system: tara", "system 'tara' is not 'system:partition'"),
        ("  source: measured\n", "", "lacks 'source'"),
        ("  source: measured", "  source: ''", "source must say where the numbers come from"),
    ],
)
def test_a_mistyped_entry_is_refused_naming_file_entry_and_key(tmp_path, old, new, message):
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    assert f"{tmp_path / 'test.yaml'}:1 (entry 0): {message}" in refusal(tmp_path, text)
    with pytest.raises(ReferenceError_):  # the lookup refuses it too, not only validate_all
        references.find("maskrcnn", "s:p", 1, "bundled", "time-to-train", folder=tmp_path)


def test_the_second_entry_is_named_by_its_line(tmp_path):
    text = GOOD + GOOD.replace("nodes: 1", "nodes: 2").replace("upper: 0.1", "upper: x")
    assert f"{tmp_path / 'test.yaml'}:10 (entry 1): perf.time_to_train: upper 'x'" in refusal(tmp_path, text)


def test_a_key_given_twice_is_refused(tmp_path):
    text = GOOD.replace("upper: 0.1,", "upper: 0.1, upper: 5,")
    assert f"{tmp_path / 'test.yaml'}:8: key 'upper' given twice in one mapping" in refusal(tmp_path, text)


def test_variant_keys_only_where_the_check_has_them(tmp_path):
    gpus = "{gpu_count: {value: 8, lower: 0, upper: 0, unit: GPUs}}"
    text = f"- {{check: gpus, system: s:p, mode: throughput, source: x, perf: {gpus}}}\n"
    allowed = "(allowed: check, perf, source, system)"
    assert f"(entry 0): unknown key 'mode' for check gpus {allowed}" in refusal(tmp_path, text)
    busbw = "{busbw: {value: 1, lower: -0.5, upper: null, unit: GB/s}}"
    text = f"- {{check: allreduce, system: s:p, nodes: 2, source: x, perf: {busbw}}}\n"
    assert references.find("allreduce", "s:p", nodes=2, folder=write(tmp_path, text)).perf["busbw"][0] == 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("check: maskrcnn\n", "must be a list of entries"),
        ("- [1, 2]\n", "(entry 0): an entry must be a mapping of keys, not a list"),
        ("- {check: maskrcnn, system: s:p, source: x, perf: {}}\n", "perf must map at least one variable"),
        ("- {check: maskrcnn\n", "not valid YAML"),
    ],
)
def test_a_broken_file_is_refused(tmp_path, text, message):
    assert message in refusal(tmp_path, text)


def entry(origin: str, nodes=None, implementation=None, mode=None, check="maskrcnn", system="s:p"):
    bound = {"time_to_train": (1.0, None, 0.1, "min")}
    return references.Entry(origin, check, system, "src", bound, nodes, implementation, mode)


# (entries as (nodes, implementation, mode); variant asked; origin of the entry chosen, or None)
LOOKUPS = [
    ([(None, None, None)], (1, "bundled", "time-to-train"), "e0"),
    ([(None, None, None), (1, None, None)], (1, "bundled", "time-to-train"), "e1"),  # exact nodes beats any
    ([(1, None, None), (None, None, None)], (1, "bundled", "time-to-train"), "e0"),  # whatever the file order
    ([(1, None, None), (None, None, None)], (2, "bundled", "time-to-train"), "e1"),
    ([(None, "bundled", None), (None, None, None)], (4, "bundled", "throughput"), "e0"),
    ([(None, None, "throughput"), (None, None, None)], (4, "bundled", "throughput"), "e0"),
    ([(1, "bundled", None), (1, None, None), (None, "bundled", None)], (1, "bundled", "throughput"), "e0"),
    ([(1, "bundled", "throughput"), (1, "bundled", None)], (1, "bundled", "time-to-train"), "e1"),
    ([(2, None, None)], (1, "bundled", "time-to-train"), None),  # nothing fits: None
    ([(None, "nvidia-v0.7", None)], (1, "bundled", "time-to-train"), None),
    ([], (1, "bundled", "time-to-train"), None),
]


@pytest.mark.parametrize(("selectors", "variant", "chosen"), LOOKUPS)
def test_lookup_picks_the_most_specific_entry(selectors, variant, chosen):
    entries = [entry(f"e{i}", *sel) for i, sel in enumerate(selectors)]
    found = references.select(entries, "maskrcnn", "s:p", *variant)
    assert (found.origin if found else None) == chosen


def test_lookup_filters_check_and_system():
    entries = [entry("other-check", check="allreduce"), entry("other-system", system="s:q"), entry("mine")]
    assert references.select(entries, "maskrcnn", "s:p", 1, "bundled", "throughput").origin == "mine"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((1, None, None), (1, None, None)),  # equally specific
        ((None, "bundled", None), (None, None, "throughput")),  # neither more specific
        ((1, None, "throughput"), (None, "bundled", None)),  # more keys is not more specific
    ],
)
def test_ambiguous_entries_are_refused_with_both_named(first, second):
    entries = [entry("f.yaml:1 (entry 0)", *first), entry("f.yaml:9 (entry 1)", *second)]
    with pytest.raises(
        ReferenceError_, match=r"f\.yaml:1 \(entry 0\) and f\.yaml:9 \(entry 1\) both fit maskrcnn on s:p"
    ):
        references.select(entries, "maskrcnn", "s:p", 1, "bundled", "throughput")


def test_a_third_entry_can_settle_a_tie():
    entries = [entry("a", 1, None, None), entry("b", None, "bundled", None), entry("c", 1, "bundled", None)]
    assert references.select(entries, "maskrcnn", "s:p", 1, "bundled", "throughput").origin == "c"


def test_validate_all_finds_an_ambiguity_before_any_lookup(tmp_path):
    text = GOOD + GOOD.replace("nodes: 1", "nodes: any").replace("implementation: bundled", "implementation: any")
    text = text.replace("mode: time-to-train", "mode: any", 1)
    # entry 0: nodes 1, bundled, any mode; entry 1: any nodes, any implementation, time-to-train
    message = refusal(tmp_path, text)
    assert f"{tmp_path / 'test.yaml'}:1 (entry 0) and {tmp_path / 'test.yaml'}:10 (entry 1) both fit" in message
    assert "(nodes 1, implementation bundled, mode time-to-train)" in message


def test_find_reads_the_site_references(tmp_path, monkeypatch):
    for key, value in resources_with(tmp_path / "resources", GOOD).items():
        monkeypatch.setenv(key, value)
    assert references.find("maskrcnn", "s:p", 1, "bundled", "time-to-train").perf["throughput"][0] == 5.0
    assert references.find("maskrcnn", "s:p", 2, "bundled", "time-to-train") is None


# ---- what each refusal says, exactly ---------------------------------------------------------------
def test_every_broken_entry_is_named_in_one_refusal(tmp_path):
    text = GOOD.replace("upper: 0.1", "upper: x") + GOOD.replace("nodes: 1", "nodes: 3")
    path = tmp_path / "test.yaml"
    assert refusal(tmp_path, text) == (
        f"{path}:1 (entry 0): perf.time_to_train: upper 'x' must be null or a fraction >= 0; "
        f"{path}:10 (entry 1): nodes 3 is not a node count the checks run (1, 2, 4) or 'any'"
    )


def test_yaml_errors_and_repeated_keys_are_named_exactly(tmp_path):
    path = tmp_path / "test.yaml"
    message = refusal(tmp_path, "- {check: maskrcnn\n")
    assert message.startswith(f'{path}: not valid YAML: while parsing a flow mapping in "')
    assert "\n" not in message and "  " not in message
    text = GOOD.replace("upper: 0.1,", "upper: 0.1, upper: 5,").replace("source: measured", "source: a\n  source: b")
    assert refusal(tmp_path, text) == (
        f"{path}:7: key 'source' given twice in one mapping; {path}:9: key 'upper' given twice in one mapping"
    )


def test_an_entry_without_perf_says_only_that(tmp_path):
    text = "- {check: gpus, system: s:p, source: x}\n"
    assert refusal(tmp_path, text) == f"{tmp_path / 'test.yaml'}:1 (entry 0): lacks 'perf'"


def test_perf_problems_of_every_variable_are_named(tmp_path):
    text = (
        "- check: maskrcnn\n  system: s:p\n  source: x\n  perf:\n"
        "    speed: {value: 1, lower: null, upper: null, unit: img/s}\n"
        "    throughput: 5\n"
        "    time_to_train: {value: 1, lower: -1.0, upper: 0, unit: min}\n"
        "    eval_time: {value: 1, lower: -1.5, upper: null, unit: s}\n"
    )
    where = f"{tmp_path / 'test.yaml'}:1 (entry 0): perf"
    assert refusal(tmp_path, text) == (
        f"{where}.speed: check maskrcnn reports no such variable (it reports time_to_train, throughput, epochs, "
        f"eval_time, projected_time_to_train, score); "
        f"{where}.throughput: must be {{value, lower, upper, unit}}; "
        f"{where}.eval_time: lower -1.5 must be null or a fraction in [-1, 0]"
    )


def test_the_widest_bounds_are_accepted(tmp_path):
    text = "- {check: gpus, system: s:p, source: x, perf: {gpu_count: {value: 8, lower: -1, upper: 0, unit: GPUs}}}\n"
    found = references.find("gpus", "s:p", folder=write(tmp_path, text))
    assert found.perf == {"gpu_count": (8.0, -1.0, 0.0, "GPUs")}
    assert found.source == "x" and found.system == "s:p"


def test_find_passes_the_whole_variant(tmp_path):
    bound = "perf: {throughput: {value: VALUE, lower: null, upper: null, unit: img/s}}"
    text = "".join(
        f"- {{check: maskrcnn, system: s:p, source: {source}, implementation: {impl}, mode: {mode}, "
        + bound.replace("VALUE", str(value))
        + "}\n"
        for source, impl, mode, value in [
            ("b-ttt", "bundled", "time-to-train", 1),
            ("n-ttt", "nvidia-v0.7", "time-to-train", 2),
            ("b-tp", "bundled", "throughput", 3),
            ("n-tp", "nvidia-v0.7", "throughput", 4),
        ]
    )
    folder = write(tmp_path, text)
    found = {
        (impl, mode): references.find("maskrcnn", "s:p", 2, impl, mode, folder=folder).source
        for impl in ("bundled", "nvidia-v0.7")
        for mode in ("time-to-train", "throughput")
    }
    assert found == {
        ("bundled", "time-to-train"): "b-ttt",
        ("nvidia-v0.7", "time-to-train"): "n-ttt",
        ("bundled", "throughput"): "b-tp",
        ("nvidia-v0.7", "throughput"): "n-tp",
    }


def test_the_tie_named_is_the_pair_that_ties(tmp_path):
    entries = [entry("a", 1, None, None), entry("b", 1, "bundled", None), entry("c", 1, None, "throughput")]
    with pytest.raises(ReferenceError_) as err:
        references.select(entries, "maskrcnn", "s:p", 1, "bundled", "throughput")
    assert str(err.value) == (
        "b and c both fit maskrcnn on s:p (nodes 1, implementation bundled, mode throughput) and neither is more "
        "specific: make one of them more specific, or remove one"
    )


def test_validate_all_looks_up_each_variant_the_check_has_once(tmp_path):
    path = tmp_path / "test.yaml"
    gpus = "- {check: gpus, system: s:p, source: x, perf: {gpu_count: {value: 8, lower: 0, upper: 0, unit: GPUs}}}\n"
    message = refusal(tmp_path, gpus * 2)
    assert message == (
        f"{path}:1 (entry 0) and {path}:2 (entry 1) both fit gpus on s:p (nodes None, implementation None, mode "
        "None) and neither is more specific: make one of them more specific, or remove one"
    )
    busbw = "- {check: allreduce, system: s:p, source: x, perf: {busbw: {value: 1, lower: null, upper: null, unit: GB/s}}}\n"  # noqa: E501
    message = refusal(tmp_path, busbw * 2)
    tie = f"{path}:1 (entry 0) and {path}:2 (entry 1) both fit allreduce on s:p"
    rest = "and neither is more specific: make one of them more specific, or remove one"
    assert message == "; ".join(f"{tie} (nodes {n}, implementation None, mode None) {rest}" for n in (1, 2, 4))
