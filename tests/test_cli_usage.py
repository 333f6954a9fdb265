"""What a user who mistypes a command, option or value sees, and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MLKUBE = str(Path(sys.executable).parent / "mlkube")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLKUBE, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_a_mistyped_option_gets_a_did_you_mean_and_points_to_help():
    result = run("model", "show", "--nme", "iris")
    assert result.returncode == 2
    assert "Error: No such option: --nme. Did you mean --name?" in result.stderr
    assert "Hint: `mlkube model show --help` lists the commands and options." in result.stderr
    assert "--debug" not in result.stderr and "Traceback" not in result.stderr


def test_a_mistyped_command_and_a_bad_output_format_are_usage_errors():
    command = run("model", "shw")
    assert "No such command 'shw'. Did you mean 'show'?" in command.stderr
    assert "`mlkube model --help`" in command.stderr
    output = run("model", "show", "-n", "iris", "-o", "xml")
    assert output.returncode == 2
    assert ("Invalid value for '--output' / '-o': 'xml' is not one of 'table', 'json', "
            "'yaml'.") in output.stderr
    assert "Value error" not in output.stderr and "--debug" not in output.stderr


def test_the_key_type_is_checked_as_a_flag_not_as_python(tmp_path: Path):
    result = run("online-endpoint", "regenerate-keys", "-n", "iris", "--key-type", "tertiary",
                 "-w", str(tmp_path))
    assert result.returncode == 2
    assert "'--key-type': 'tertiary' is not one of 'primary', 'secondary'" in result.stderr
    assert "key_type=" not in result.stderr


def test_shell_completion_is_offered_and_completes_commands_and_options():
    # Named, not detected: the parent process here may be sh (make, CI), which
    # --show-completion cannot complete for.
    script = run("completion", "bash")
    assert script.returncode == 0 and "_MLKUBE_COMPLETE" in script.stdout
    assert run("completion", "tcsh").returncode == 1
    commands = run(env={"_MLKUBE_COMPLETE": "complete_bash", "COMP_WORDS": "mlkube online-",
                        "COMP_CWORD": "1"})
    assert commands.stdout.split() == ["online-endpoint", "online-deployment"]
    options = run(env={"_MLKUBE_COMPLETE": "complete_bash",
                       "COMP_WORDS": "mlkube model show --na", "COMP_CWORD": "3"})
    assert options.stdout.split() == ["--name"]
