"""Checks of an entry script (``score.py``) that need only its source text.

These catch the seed's pitfalls before anything runs: the script loading
``$AZUREML_MODEL_DIR/model`` when the model folder has another name (inside
``AZUREML_MODEL_DIR`` a model keeps its folder's own name), and Windows path separators
in path literals. Whether the script imports and what ``init``/``run`` look like is
learnt by running it (``script_probe``); the parse here is the fallback when it cannot
be imported.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mlkube.doctor.findings import Finding, error, info, warning

MODEL_DIR_VARIABLE = "AZUREML_MODEL_DIR"
_PATH_SEGMENT = re.compile(r"^[\w.\- ]+$")
_DRIVE = re.compile(r"^[A-Za-z]:\\")


@dataclass(frozen=True)
class ModelDirUse:
    """The script builds ``$AZUREML_MODEL_DIR/<subfolder>`` at ``line``."""

    subfolder: str
    line: int


def parse_script(source: str, *, script: str) -> tuple[ast.Module | None, list[Finding]]:
    """The script's syntax tree, or an error finding naming the line."""
    try:
        return ast.parse(source, filename=script), []
    except SyntaxError as problem:
        return None, [error(
            "script-syntax-error",
            f"{script} line {problem.lineno}: {problem.msg}.",
            "Fix the syntax at that line (run `python -m py_compile score.py` to check).",
        )]


def check_model_dir_uses(
    tree: ast.Module, *, script: str, model_folder_name: str | None
) -> list[Finding]:
    """``AZUREML_MODEL_DIR + "/model"`` (or ``os.path.join(..., "model")``) must name the
    model folder's actual name."""
    findings = []
    for use in model_dir_uses(tree):
        where = f"{script} line {use.line}"
        if model_folder_name is None:
            findings.append(info(
                "model-dir-subfolder",
                f"{where} loads $AZUREML_MODEL_DIR/{use.subfolder}: the model must be a folder "
                f"named '{use.subfolder}' (a model keeps its folder's name inside "
                f"AZUREML_MODEL_DIR).",
                f"Register or deploy the model from a folder named '{use.subfolder}'.",
            ))
        elif use.subfolder != model_folder_name:
            findings.append(error(
                "model-dir-subfolder",
                f"{where} loads $AZUREML_MODEL_DIR/{use.subfolder}, but the model folder is "
                f"named '{model_folder_name}', so it is at "
                f"$AZUREML_MODEL_DIR/{model_folder_name} and loading fails.",
                f"Load os.path.join(os.environ['AZUREML_MODEL_DIR'], '{model_folder_name}') "
                f"in the script, or rename the model folder to '{use.subfolder}'.",
            ))
    return findings


def model_dir_uses(tree: ast.Module) -> list[ModelDirUse]:
    """Expressions that join AZUREML_MODEL_DIR with a literal subfolder: ``+ "/x"``,
    ``os.path.join(..., "x")``, ``Path(...) / "x"``, ``f"{...}/x"``."""
    # Names bound to the bare variable (base = os.environ["AZUREML_MODEL_DIR"]) count too.
    aliases = {
        target.id
        for node in ast.walk(tree) if isinstance(node, ast.Assign)
        and _mentions_model_dir(node.value, frozenset()) and _joined_subfolder(
            node.value, frozenset()) is None
        for target in node.targets if isinstance(target, ast.Name)
    }
    uses: dict[int, ModelDirUse] = {}
    for node in ast.walk(tree):
        subfolder = _joined_subfolder(node, frozenset(aliases))
        # The outermost expression of a line wins.
        if subfolder and isinstance(node, ast.expr) and node.lineno not in uses:
            uses[node.lineno] = ModelDirUse(subfolder, node.lineno)
    return sorted(uses.values(), key=lambda u: u.line)


def check_path_literals(tree: ast.Module, *, script: str) -> list[Finding]:
    """String literals that are Windows paths (``C:\\...``, ``model\\iris.pkl``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _looks_like_windows_path(node.value):
                found.append(f"line {node.lineno}: '{node.value}'")
    if not found:
        return []
    return [warning(
        "windows-path",
        f"{script} has Windows path literals ({'; '.join(found[:5])}); on Linux '\\' is part "
        f"of a file name, so these paths are not found.",
        "Use '/' or os.path.join(...) / pathlib.Path for paths, and no drive letters.",
    )]


def check_defines_entry_points(tree: ast.Module, *, script: str) -> list[Finding]:
    """Static fallback for a script that cannot be imported: top-level init and run."""
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    return [
        error(
            f"script-missing-{name}",
            f"{script} defines no top-level {name}() function.",
            f"Define {name}() at module level: the server calls init() once at start and "
            f"run(raw_data) for each request.",
        )
        for name in ("init", "run") if name not in defined
    ]


def _joined_subfolder(node: ast.AST, aliases: frozenset[str]) -> str | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Div):
        inner = _joined_subfolder(node.left, aliases)  # dir + "/model" + "/x": "model"
        if inner:
            return inner
        if _mentions_model_dir(node.left, aliases):
            return _first_segment(_literal(node.right))
    elif isinstance(node, ast.Call) and _call_name(node) == "join" and len(node.args) > 1:
        if _mentions_model_dir(node.args[0], aliases):
            return _first_segment(_literal(node.args[1]))
    elif isinstance(node, ast.JoinedStr):
        for index, part in enumerate(node.values[:-1]):
            if isinstance(part, ast.FormattedValue) and _mentions_model_dir(part.value, aliases):
                return _first_segment(_literal(node.values[index + 1]))
    return None


def _mentions_model_dir(node: ast.AST, aliases: frozenset[str]) -> bool:
    return any(
        (isinstance(n, ast.Constant) and n.value == MODEL_DIR_VARIABLE)
        or (isinstance(n, ast.Name) and n.id in aliases)
        for n in ast.walk(node)
    )


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _first_segment(value: str | None) -> str | None:
    if not value:
        return None
    segment = re.split(r"[/\\]", value.lstrip("/\\"), maxsplit=1)[0]
    return segment or None


def _looks_like_windows_path(value: str) -> bool:
    if "\\" not in value or "\n" in value:
        return False
    if _DRIVE.match(value):
        return True
    segments = value.split("\\")
    return len(segments) >= 2 and all(_PATH_SEGMENT.match(s) for s in segments if s) and (
        sum(1 for s in segments if s) >= 2
    )
