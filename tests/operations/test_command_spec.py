"""The command job spec: Azure ML v2 YAML and the ``command(...)`` builder, ``${{...}}``
substitution — pure, checked before anything runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlkube.entities.input import Input
from mlkube.entities.job import Command, command, render_command
from mlkube.errors import ValidationError


def test_azure_command_job_yaml_loads_with_paths_relative_to_the_file(tmp_path: Path):
    spec = tmp_path / "jobs" / "train.yml"
    spec.parent.mkdir()
    spec.write_text(textwrap.dedent("""\
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        type: command
        code: ../src
        command: >-
          python train.py --iris-csv ${{inputs.iris_csv}} --learning-rate ${{inputs.lr}}
        inputs:
          iris_csv:
            type: uri_file
            path: ../data/iris.csv
          lr: 0.1
        environment: azureml:lightgbm-env@latest
        compute: azureml:cpu-cluster
        experiment_name: iris
        display_name: seed training
        resources:
          instance_count: 1
        """))
    job = Command.from_yaml(spec, overrides=["compute=local"])
    assert job.code == str(tmp_path / "jobs" / ".." / "src")
    assert job.inputs["iris_csv"].path == str(tmp_path / "jobs" / ".." / "data" / "iris.csv")
    assert job.inputs["lr"] == 0.1
    assert (job.compute, job.environment) == ("local", "azureml:lightgbm-env@latest")


def test_unknown_yaml_field_is_named_with_the_file(tmp_path: Path):
    spec = tmp_path / "job.yml"
    spec.write_text("command: echo hi\ncomand_typo: x\n")
    with pytest.raises(ValidationError) as caught:
        Command.from_yaml(spec)
    assert str(spec) in caught.value.message and "comand_typo" in caught.value.message


def test_builder_accepts_azure_only_arguments():
    job = command(command="echo ${{inputs.x}}", inputs={"x": 1}, instance_count=2,
                  distribution={"type": "pytorch"}, compute="local")
    assert job.distribution == {"type": "pytorch"} and job.compute == "local"


def test_substitution_quotes_paths_with_spaces_unless_already_quoted():
    rendered = render_command('cat ${{inputs.a}} "${{inputs.a}}" --n ${{inputs.n}}',
                              inputs={"a": "/data/my file.csv", "n": "3"}, outputs={})
    assert rendered == "cat '/data/my file.csv' \"/data/my file.csv\" --n 3"


def test_optional_part_is_dropped_when_its_input_is_not_given():
    job = command(command="train $[[--lr ${{inputs.lr}}]] --data ${{inputs.d}}",
                  inputs={"d": Input(type="uri_folder", path="/d"),
                          "lr": Input(type="number", optional=True)})
    job.check_references()
    assert render_command(job.command, inputs={"d": "/d"}, outputs={},
                          known_inputs=job.inputs) == "train  --data /d"


def test_reference_to_an_undeclared_input_names_it_and_the_known_ones():
    with pytest.raises(ValidationError) as caught:
        command(command="python t.py ${{inputs.iris}}", inputs={"iris_csv": 1, "lr": 2}
                ).check_references()
    assert "${{inputs.iris}}" in caught.value.message
    assert "(inputs: iris_csv, lr)" in caught.value.message


def test_reference_to_a_declared_but_missing_required_input_says_how_to_fix():
    with pytest.raises(ValidationError) as caught:
        render_command("t ${{inputs.lr}}", inputs={}, outputs={},
                       known_inputs={"lr": Input(type="number", optional=True)})
    assert "$[[ ... ]]" in caught.value.hint


def test_unknown_namespace_and_output_references_are_refused():
    with pytest.raises(ValidationError, match="search_space"):
        command(command="t ${{search_space.lr}}").check_references()
    with pytest.raises(ValidationError, match="no output 'model'"):
        command(command="t ${{outputs.model}}").check_references()
