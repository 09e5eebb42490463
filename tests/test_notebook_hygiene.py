"""Static checks on the chapters: the template of BOOK.md §2, no outputs, no Colab metadata,
and the repository URL of _config.yml agreeing with every badge and install line."""
import ast
import json
import re
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from vegan_lib import ledger as vl_ledger

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
SLUG = URL.split("github.com/", 1)[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for v in node.values():
            yield from _toc_files(v)
    elif isinstance(node, list):
        for v in node:
            yield from _toc_files(v)


def test_chapters_exist_and_are_in_the_toc():
    assert CHAPTERS, "no chapter found under book/"
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = set(_toc_files(toc))
    for path in CHAPTERS:
        assert f"book/{path.stem}" in listed, f"{path.name} is missing from _toc.yml"
    for entry in listed:
        assert any((ROOT / (entry + ext)).exists() for ext in (".ipynb", ".md")), entry


def test_repository_url_is_consistent():
    assert URL.startswith("https://github.com/") and SLUG.count("/") == 1
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'Homepage = "{URL}"' in pyproject


@pytest.fixture(params=CHAPTERS, ids=[p.stem for p in CHAPTERS])
def chapter(request):
    path = request.param
    return path, nbformat.read(path, as_version=4)


def test_no_outputs_and_no_colab_metadata(chapter):
    path, nb = chapter
    nbformat.validate(nb)
    raw = path.read_text()
    for key in ("executionInfo", "outputId", "colab_type", "widgets"):
        assert key not in raw, f"{path.name} carries editor metadata {key!r}"
    assert "colab" not in nb.metadata, f"{path.name} has Colab notebook metadata"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        assert "colab" not in cell.metadata and "id" not in cell.metadata, (path.name, i)
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} cell {i} has outputs"


def test_template_title_badge_bootstrap(chapter):
    path, nb = chapter
    number = int(path.stem[:2])
    title = nb.cells[0]
    assert title.cell_type == "markdown" and title.source.startswith(f"# {number}. "), path.name
    assert "*Builds on:*" in title.source
    badge = f"https://colab.research.google.com/github/{SLUG}/blob/{BRANCH}/book/{path.name}"
    assert badge in title.source, f"{path.name}: Colab badge must point at {badge}"
    boot = nb.cells[1]
    assert boot.cell_type == "code" and 'if "google.colab" in sys.modules:' in boot.source
    installs = [ln.strip() for ln in boot.source.splitlines() if "pip install" in ln]
    assert installs == [f'%pip install -q "vegan_lib @ git+{URL}@{BRANCH}"'], installs
    assert "torch" not in installs[0], "never reinstall torch on Colab"


def test_parameters_cell(chapter):
    path, nb = chapter
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [2], f"{path.name}: exactly one parameters cell, third in the notebook"
    names = []
    for line in nb.cells[2].source.splitlines():
        if not line.strip():
            continue
        assert re.match(r"^[A-Z][A-Z0-9_]* = .+  # .+$", line), f"{path.name}: '{line}' is not 'NAME = literal  # comment'"
        node = ast.parse(line).body[0]
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), line
        names.append(node.targets[0].id)
    assert names[:3] == ["QUICK", "DEVICE", "SEED"], names
    params = nb.cells[2].source
    assert "QUICK = False" in params and 'DEVICE = "auto"' in params
    inferred = papermill.inspect_notebook(str(path))
    assert list(inferred) == names, "papermill must see exactly the parameters cell's names"


def test_resolve_cell(chapter):
    path, nb = chapter
    src = nb.cells[3].source
    for needle in ("import vegan_lib as vl", "QUICK = vl.quick_mode(QUICK)", "if QUICK:",
                   "vl.get_device(DEVICE)", "vl.set_seed(SEED)", "data:"):
        assert needle in src, f"{path.name}: the resolve cell lacks {needle!r}"


def test_checks_summary_exercises_references(chapter):
    path, nb = chapter
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    heads = [ln for s in md for ln in s.splitlines() if ln.startswith("## ")]
    assert any(h.endswith("Checks") for h in heads), f"{path.name}: no Checks section"
    assert heads[-3:] == ["## Summary", "## Exercises", "## References"], heads[-3:]
    assert "{footbibliography}" in md[-1]
    idx = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "Checks\n" in c.source + "\n")
    checks = nb.cells[idx + 1]
    assert checks.cell_type == "code" and checks.source.count("vl.ledger.claim") >= 3


def _checks_cells(nb):
    """The code cells of the Checks section: from the 'N.k Checks' heading to the Summary."""
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and re.search(r"^## [\d.]+ Checks$",
                                                                                            c.source, re.M))
    end = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Summary" in c.source)
    return [(i, nb.cells[i]) for i in range(start, end) if nb.cells[i].cell_type == "code"]


def test_every_check_is_recorded_in_the_ledger(chapter):
    # The ledger of claims (vl.ledger, the appendix page): every check of the Checks section goes through
    # vl.ledger.claim / claim_all, which asserts and records; a bare assert there would not be in the ledger.
    path, nb = chapter
    number = int(path.name[:2])
    assert f"vl.ledger.begin({number}, quick=QUICK" in nb.cells[3].source, f"{path.name}: no vl.ledger.begin"
    for i, cell in _checks_cells(nb):
        tree = ast.parse(vl_ledger._python(cell.source))
        bare = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
        assert not bare, f"{path.name}, cell {i}: bare assert on lines {bare}: use vl.ledger.claim"
    declared = vl_ledger.declared(nb)  # literal, well-formed, unique keys
    assert len(declared) >= 3, path.name
    for d in declared:
        assert d["key"].split(".")[0].split("/")[0] == str(number), f"{path.name}: {d['key']} is not a section of it"
    sanity_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "### Sanity" in c.source]
    for d in declared:
        assert (d["kind"] == "sanity") == any(d["cell"] == i + 1 for i in sanity_cells), (
            f"{path.name}: {d['key']} is of kind {d['kind']!r} in cell {d['cell']}: the sanity cell holds the "
            f"sanity claims, and only they")


def test_public_api_only_and_gpu_metadata(chapter):
    path, nb = chapter
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"vl\._|vegan_lib\._", code), f"{path.name} uses private library names"
    trains = "vl.train." in code or "vl.reference." in code
    assert (nb.metadata.get("accelerator") == "GPU") == trains, \
        f"{path.name}: chapters that train (and only those) carry accelerator: GPU"


# What the library offers, a chapter must not write again (vl.eval_mode, ImageSet.subset, the trainer's step,
# evaluation at step 0, OptimizerSpec options); and no chapter uses a deprecated name.
_HAND_WRITTEN = {
    r"\.eval\(\)": "model.eval(): use `with vl.eval_mode(model):`",
    r"torch\.no_grad\(\)": "torch.no_grad(): use `with vl.eval_mode(model):`",
    r"\.backward\(|\.step\(\)|zero_grad\(": "a hand-written optimisation step: the trainer owns it (vl.train)",
    r"torch\.optim\.": "a hand-built optimizer: use recipe.make_optimizers({...}) (OptimizerSpec options)",
    r"randperm\(len\(": "a hand-drawn held-out subset: use ImageSet.subset(n, seed)",
    r"vl\.models\.|vegan_lib\.models": "the deprecated vl.models: use vl.networks, vl.recipes, vl.cookbook",
    r"(?<!vl\.train\.)train_step\(": "Recipe.train_step is deprecated: vl.train.train_step",
}


def test_chapters_use_the_library_not_hand_written_copies(chapter):
    path, nb = chapter
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    found = [why for pattern, why in _HAND_WRITTEN.items() if re.search(pattern, code)]
    assert not found, f"{path.name}: " + "; ".join(found)


# One experiment protocol (vl.protocol): no chapter sets a recipe's hyperparameters itself, in its parameters
# cell or in its code. A chapter picks a PROFILE and, for an experiment's variable, overrides one protocol
# option by name (e.g. `lam=lam` in a λ sweep, `z_dim=64`, `cost="euclidean"`), never with a tuned literal.
_PROTOCOL_LITERALS = {
    r"\blam\s*=\s*[\d.]": "a literal λ: take it from vl.protocol (the λ = 0 baseline is vl.protocol.LAMBDA_ZERO)",
    r"\b(adv_lr|gen_lr|cost_scale|gp_weight|n_critic|adversary_width)\s*=\s*[\d.]": "a recipe hyperparameter literal",
    r"\bLAMBDA\w*\s*=\s*[\d.]|\bADV_\w*\s*=|\bCOST_SCALE\w*\s*=": "a recipe hyperparameter as a chapter parameter",
    r"latent_adversary\(|\b(MLP|Conv)(Encoder|Decoder)\(": "hand-built networks: vl.protocol.build / toy_build",
    r"vl\.recipes\.(WAE|AAE|VAE|WGAN)\(": "a hand-built recipe: vl.protocol.build / toy_build",
}
_PROTOCOL_CHAPTERS = ("03_", "05_", "06_", "07_")  # Chapter 4's lockstep proof builds its own tiny models
_NOT_PROTOCOL = "# Not a recipe of the experiment protocol:"  # a cell that says so (e.g. Chapter 6's W1 estimators)


def test_training_chapters_take_their_settings_from_the_protocol(chapter):
    path, nb = chapter
    if not path.name.startswith(_PROTOCOL_CHAPTERS):
        return
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.source.startswith(_NOT_PROTOCOL):
            continue
        for pattern, why in _PROTOCOL_LITERALS.items():
            m = re.search(pattern, cell.source)
            assert not m, f"{path.name}, cell {i}: {m.group(0)!r}: {why}"


# Every exercise has a solution (folded in the HTML: <details> in markdown, code cells tagged hide-cell), placed
# between the exercise list and the References cell.
_EXERCISE = re.compile(r"^(\d+)\.\s", re.M)
_SOLUTION = re.compile(r"<summary><b>Solution to exercise (\d+)</b></summary>")


def test_every_exercise_has_a_solution(chapter):
    path, nb = chapter
    cells = nb.cells
    start = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    text = cells[start].source.split("## Exercises", 1)[1]
    exercises = [int(k) for k in _EXERCISE.findall(text)]
    assert exercises and exercises == list(range(1, len(exercises) + 1)), f"{path.name}: exercises {exercises}"
    solutions = [int(k) for c in cells[start + 1:] if c.cell_type == "markdown" for k in _SOLUTION.findall(c.source)]
    assert solutions == exercises, f"{path.name}: exercises {exercises}, solutions {solutions}"
    for c in cells[start + 1:]:
        if c.cell_type == "code":
            assert "hide-cell" in c.metadata.get("tags", []), f"{path.name}: a solution code cell is not folded"


# Reading first: each chapter states its measured run time near its top, generated from the benchmark records
# by bench/run_times.py (never typed): after `python bench/chapter_times.py`, run `python bench/run_times.py`.
def test_run_time_line_is_generated(chapter):
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_times", ROOT / "bench" / "run_times.py")
    run_times = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_times)
    path, nb = chapter
    assert run_times.current_line(nb) == run_times.expected_line(path, nb), (
        f"{path.name}: the run-time line is not generated from bench/results: run python bench/run_times.py")


def test_set_up_cells_are_folded(chapter):
    # the parameters and set-up cells fold their input in the HTML; their output (what was chosen) stays visible
    path, nb = chapter
    for i in (2, 3):
        tags = nb.cells[i].metadata.get("tags", [])
        assert "hide-input" in tags and "hide-cell" not in tags and "hide-output" not in tags, (path.name, i, tags)
