"""Requirement lines from many places merge into one stable set."""

import pytest

from mlkube.environments.requirements import (
    RequirementEntry,
    expand_requirement_lines,
    merge_requirements,
    read_requirements_file,
)
from mlkube.errors import EnvironmentResolutionError


def entries(*lines, origin="spec"):
    return [RequirementEntry(line, origin) for line in lines]


def test_merge_sorts_deduplicates_and_unites_specifiers_and_extras():
    merged = merge_requirements(
        entries("pandas", "Numpy>=1.20", "numpy==1.26.*", "uvicorn[standard]", "uvicorn>=0.30",
                "scikit_learn"),
        server_requirement=None,
    )
    assert merged.requirements == ("Numpy==1.26.*,>=1.20", "pandas", "scikit_learn",
                                   "uvicorn[standard]>=0.30")


def test_merged_set_does_not_depend_on_the_order_lines_were_written_in():
    lines = ["b==1", "a>=2", "c", "a<3"]
    first = merge_requirements(entries(*lines), server_requirement="mlkube[server]")
    second = merge_requirements(entries(*reversed(lines)), server_requirement="mlkube[server]")
    assert first.requirements == second.requirements


def test_azure_inference_server_is_dropped_and_mlkube_server_added_with_a_note():
    merged = merge_requirements(
        entries("azureml-inference-server-http==1.5.1", "azureml_defaults", "mlflow",
                origin="conda.yaml"),
        server_requirement="mlkube[server] @ file:///tmp/mlkube-0.1.0-py3-none-any.whl",
    )
    assert merged.requirements == (
        "mlflow", "mlkube[server] @ file:///tmp/mlkube-0.1.0-py3-none-any.whl")
    notes = [s for s in merged.sources if s.startswith("dropped")]
    assert len(notes) == 2 and "azureml-inference-server-http==1.5.1 (conda.yaml)" in notes[0]
    assert "mlkube: added by mlkube" in merged.sources


def test_conflicting_pins_name_both_origins():
    with pytest.raises(EnvironmentResolutionError) as caught:
        merge_requirements([RequirementEntry("numpy==1.26.4", "conda.yaml"),
                            RequirementEntry("numpy==2.0.0", "requirements.txt")],
                           server_requirement=None)
    assert "numpy" in caught.value.message
    assert "conda.yaml" in caught.value.message and "requirements.txt" in caught.value.message


def test_pin_inside_a_wildcard_is_not_a_conflict():
    merged = merge_requirements(entries("numpy==1.26.*", "numpy==1.26.4"), server_requirement=None)
    assert merged.requirements == ("numpy==1.26.*,==1.26.4",)


def test_invalid_lines_are_named():
    with pytest.raises(EnvironmentResolutionError, match="'numpy ==='"):
        merge_requirements(entries("numpy ==="), server_requirement=None)


def test_requirements_file_includes_resolve_relative_to_the_including_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.txt").write_text("six==1.16.0  # pinned\n-c constraints.txt\n")
    (tmp_path / "requirements.txt").write_text(
        "# comment\n-r sub/base.txt\nrequests \\\n  >=2\n./wheels/pkg.whl\n")
    lines = [e.line for e in read_requirements_file(tmp_path / "requirements.txt")]
    assert lines == ["six==1.16.0", f"-c {tmp_path / 'sub' / 'constraints.txt'}",
                     "requests   >=2", str(tmp_path / "wheels" / "pkg.whl")]


def test_missing_include_names_the_path_and_who_included_it(tmp_path):
    with pytest.raises(EnvironmentResolutionError, match="nope.txt") as caught:
        expand_requirement_lines(["-r nope.txt"], base_dir=tmp_path, origin="conda.yaml")
    assert "relative to the file" in caught.value.hint


def test_circular_includes_are_reported(tmp_path):
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(EnvironmentResolutionError, match="includes itself"):
        read_requirements_file(tmp_path / "a.txt")


def test_pip_compile_hash_pins_are_dropped_with_a_note(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "six==1.16.0 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\n")
    merged = merge_requirements(read_requirements_file(tmp_path / "requirements.txt"),
                                server_requirement="mlkube[server]")
    assert merged.requirements == ("mlkube[server]", "six==1.16.0")
    assert any(s.startswith("dropped the --hash pins of six==1.16.0") for s in merged.sources)
