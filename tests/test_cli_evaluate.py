# evaluate without its optional dependencies: the missing `eval` extra is named, with the pip command, before
# any work starts (it used to die on `import mir_eval` after the first figures and a render).
from support.cli import run_cli


def test_a_missing_eval_extra_is_named_up_front(tmp_path):
    shadow = tmp_path / "shadow" / "mir_eval"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'mir_eval'\")\n")
    result = run_cli(["wavenet_rt.evaluate", "--data", tmp_path / "no_data", "--quick"],
                     env={"PYTHONPATH": str(shadow.parent)})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "evaluate needs mir_eval: pip install 'wavenet_rt[eval]'" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
