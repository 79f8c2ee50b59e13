"""The step viewer: its data files from known scores, and the site itself in a real headless Chromium.

The browser tests open the generated viewer from disk as a person would and read the DOM: which teachers,
steps and shading are shown for known scores, what search, filters, sorting and the keyboard change, and that
the console stays clean. Screenshots of the overview and of one prompt are kept in ``test-artifacts/viewer/``
(look at them after a change to the viewer). A missing browser fails these tests, loudly (see `browser`)."""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

import pytest
from browser import console_errors, start_chrome
from datasets import Dataset, load_dataset
from huggingface_hub import DatasetCard
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from hf_select.errors import OutputError
from hf_select.formats import Shape
from hf_select.steps import split_steps
from hf_select.viewer import PAGE_PROMPTS, ViewerData, view, viewer_files

ARTIFACTS = Path(
    os.environ.get("HF_SELECT_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"), "viewer"
)
TEACHERS = ["alpha", "beta", "gamma"]


def _response(prompt: int, teacher: str) -> str:
    think = f"<think>Read problem {prompt}.\n\nTry {teacher} first.</think>\n\n" if teacher == "gamma" else ""
    return f"{think}Start of {teacher} on {prompt}.\n\nMiddle step here.\n\nThe answer is {prompt}."


def _rows(prompts: int = 6) -> Dataset:
    """Three teachers per prompt with known step scores: alpha's middle step is the least natural."""
    rows = {
        "prompt": [],
        "response": [],
        "teacher": [],
        "is_correct": [],
        "local_naturalness": [],
        "local_step_scores": [],
        "local_step_spans": [],
    }
    for p in range(prompts):
        for k, teacher in enumerate(TEACHERS):
            text = _response(p, teacher)
            spans = split_steps(text)
            steps = len(spans)
            scores = [-1.0 - k, -6.0, -2.0] if teacher == "alpha" else [-1.0 - 0.1 * (k + i) for i in range(steps)]
            rows["prompt"].append(f"Problem {p}: add {p} and {p}. " + ("Needle here." if p == 4 else ""))
            rows["response"].append(text)
            rows["teacher"].append(teacher)
            rows["is_correct"].append(teacher != "beta" or p % 2 == 0)
            rows["local_naturalness"].append(sum(scores) / len(scores) + (p if teacher == "beta" and p == 3 else 0))
            rows["local_step_scores"].append(scores)
            rows["local_step_spans"].append([[0, a, b] for a, b in spans])
    return Dataset.from_dict(rows)


def _data(files: dict[str, bytes], name: str):
    """The JSON inside a data script: ``hfView.overview(...)``, ``hfView.index(...)``, ``hfView.page(N, ...)``."""
    text = files[f"data/{name}.js"].decode().strip()
    start = text.index(", ") + 2 if name.startswith("page-") else text.index("(") + 1
    return json.loads(text[start:-2])


# -- the data files -------------------------------------------------------------------------------------------
def test_steps_are_shaded_on_their_stored_spans_with_their_scores():
    ds = _rows()
    # picked rows as the stages hand them over: reordered, fewer columns, a column added (no row numbers)
    picked = ds.select([4, 0]).remove_columns("local_step_scores").add_column("prompt_len", [1, 2])
    files = viewer_files(ds, ViewerData(picked=picked))
    page = _data(files, "page-00000")
    alpha = page[0]["responses"][0]
    (turn,) = alpha["turns"]
    steps = turn["shades"]["steps"]
    assert [s[2] for s in steps] == ds[0]["local_step_scores"]
    assert [turn["text"][a:b] for a, b, _, _ in steps] == [
        ds[0]["response"][a:b] for _, a, b in ds[0]["local_step_spans"]
    ]
    assert alpha["picked"] and not page[0]["responses"][1]["picked"] and page[1]["responses"][1]["picked"]
    gamma = page[0]["responses"][2]["turns"][0]
    assert gamma["text"][gamma["think"][0] : gamma["think"][1]] == "Read problem 0.\n\nTry gamma first."
    assert [r["correct"] for r in page[1]["responses"]] == [True, False, True]


def test_a_response_whose_steps_do_not_match_its_scores_is_left_unshaded():
    ds = _rows().map(
        lambda row, i: {"local_step_scores": row["local_step_scores"][:-1] if i == 1 else row["local_step_scores"]},
        with_indices=True,
    )
    page = _data(viewer_files(ds), "page-00000")
    assert "shades" not in page[0]["responses"][1]["turns"][0]
    assert "steps" in page[0]["responses"][0]["turns"][0]["shades"]


def test_sentences_are_shaded_by_teacher_minus_student_log_prob_per_character():
    text = "First sentence here. Second one."
    ds = Dataset.from_dict(
        {
            "prompt": ["p"],
            "response": [text],
            "prov_sentence_spans": [[[0, 20], [21, 32]]],
            "prov_sentence_margins": [[1.0, 0.0]],
            "prov_category": [["teacher", "pre-existing"]],
        }
    )
    files = viewer_files(ds)
    sentences = _data(files, "page-00000")[0]["responses"][0]["turns"][0]["shades"]["sentences"]
    assert sentences == [[0, 20, 1.0, "teacher"], [21, 32, 0.0, "pre-existing"]]
    assert _data(files, "overview")["layers"]["sentences"]["hi"] == pytest.approx(0.95)


def test_prompts_are_paged_and_the_index_says_where_each_is():
    ds = _rows(prompts=PAGE_PROMPTS * 2 + 3)
    files = viewer_files(ds)
    assert sorted(p for p in files if p.startswith("data/page-")) == [f"data/page-0000{i}.js" for i in range(3)]
    index = _data(files, "index")
    assert [entry["page"] for entry in index] == [i // PAGE_PROMPTS for i in range(len(index))]
    assert len(_data(files, "page-00002")) == 3
    gaps = [entry["gaps"][0] for entry in index]  # gap on local_naturalness: beta on prompt 3 is far ahead
    assert max(range(len(gaps)), key=gaps.__getitem__) == 3


def test_a_stream_or_no_rows_is_a_clear_error():
    from hf_select.errors import DataFormatError, WrongTypeError

    with pytest.raises(WrongTypeError, match="view a sample"):
        viewer_files(_rows().to_iterable_dataset())
    with pytest.raises(DataFormatError, match="no rows"):
        viewer_files(_rows().select([]))


def test_data_files_cannot_close_their_script():
    ds = Dataset.from_dict({"prompt": ["</script><script>alert(1)</script>"], "response": ["ok"]})
    files = viewer_files(ds)
    assert b"</script>" not in files["data/page-00000.js"] and b"</script>" not in files["data/index.js"]


def test_view_writes_its_own_files_only_and_drops_stale_pages(tmp_path):
    out = tmp_path / "viewer"
    view(_rows(prompts=PAGE_PROMPTS + 1), out)
    assert (out / "data/page-00001.js").is_file()
    view(_rows(prompts=3), out)
    assert not (out / "data/page-00001.js").exists() and (out / "data/page-00000.js").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(OutputError):
        view(_rows(), mine)
    assert (mine / "notes.txt").read_text() == "keep" and len(list(mine.iterdir())) == 1


def test_the_view_command_reads_a_saved_dataset_and_names_a_missing_split(tmp_path, capsys):
    from datasets import DatasetDict

    from hf_select.cli import main

    _rows().save_to_disk(str(tmp_path / "scored"))
    assert main(["view", str(tmp_path / "scored"), "--out", str(tmp_path / "viewer"), "--title", "mine"]) == 0
    assert "index.html" in capsys.readouterr().out
    assert _data(_files(tmp_path / "viewer"), "overview")["title"] == "mine"
    DatasetDict({"a": _rows(), "b": _rows()}).save_to_disk(str(tmp_path / "two"))
    assert main(["view", str(tmp_path / "two"), "--out", str(tmp_path / "v2")]) == 2
    assert "--split" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "two"), "--split", "b", "--out", str(tmp_path / "v2")]) == 0
    # A teacher column named but absent is an error naming it, not one teacher called "response" (#29).
    capsys.readouterr()
    assert main(["view", str(tmp_path / "scored"), "--teacher-column", "modle", "--out", str(tmp_path / "v3")]) == 2
    assert "teacher column 'modle' is not in the data" in capsys.readouterr().err and not (tmp_path / "v3").exists()
    assert main(["view", str(tmp_path / "scored"), "--teacher-column", "teacher", "--out", str(tmp_path / "v3")]) == 0


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.js")}


# -- public shapes ----------------------------------------------------------------------------------------------
def _scored(llama, rows, **shape):
    from hf_select import LocalNaturalness, score

    return score(
        Dataset.from_list(rows) if isinstance(rows, list) else rows,
        LocalNaturalness(llama, window=1, on_error="nan", **shape),
    )


def test_chat_shapes_show_the_conversation_and_shade_every_scored_turn(llama):
    from public_shapes import PROBLEMS, multi_turn_messages, openthoughts

    files = viewer_files(_scored(llama, multi_turn_messages(), format="messages", turns="all"))
    (prompt,) = _data(files, "page-00000")
    assert prompt["context"] == [["system", "You are a careful tutor."], ["user", "What is 6 times 7?"]]
    turns = prompt["responses"][0]["turns"]
    assert [t["role"] for t in turns] == ["assistant", "user", "assistant"]
    assert "steps" in turns[0]["shades"] and "steps" in turns[2]["shades"] and "shades" not in turns[1]
    files = viewer_files(_scored(llama, openthoughts(), format="sharegpt"))
    page = _data(files, "page-00000")
    assert page[0]["context"][0][0] == "system" and page[0]["context"][1][0] == "user"  # the system column, shown
    reply = page[0]["responses"][0]["turns"][0]
    assert reply["text"][reply["think"][0] : reply["think"][1]].strip() == PROBLEMS[0][2]
    assert [r["cut"] for r in page[1]["responses"]] == [False, True]  # the same prompt again, its thought cut off


def test_wide_generations_are_grouped_by_prompt_with_nulls_and_cut_off_traces(llama):
    from public_shapes import openr1_math

    from hf_select import explode

    long = explode(
        Dataset.from_list(openr1_math()),
        responses="generations",
        with_columns=["correctness_math_verify", "finish_reasons"],
        teachers="DeepSeek-R1",
    )
    long = long.rename_columns({"problem": "prompt", "correctness_math_verify": "is_correct"})
    files = viewer_files(_scored(llama, long), ViewerData(teacher_column="teacher"))
    page, index = _data(files, "page-00000"), _data(files, "index")
    assert [len(p["responses"]) for p in page] == [3 + i % 2 for i in range(len(page))]  # grouped by prompt_id
    assert [r["cut"] for r in page[0]["responses"]] == [False, False, True]
    assert [r["correct"] for r in page[0]["responses"]] == [True, False, False]
    assert index[0]["correct"] == 1


def test_a_row_that_could_not_be_scored_is_shown_with_its_error(llama):
    rows = [{"prompt": "Fine?", "response": "Yes.\n\nIt is."}, {"prompt": "Empty?", "response": ""}]
    files = viewer_files(_scored(llama, rows))
    page = _data(files, "page-00000")
    broken = page[1]["responses"][0]
    assert broken["error"] and "shades" not in broken["turns"][0] and broken["s"] == [None]
    assert "steps" in page[0]["responses"][0]["turns"][0]["shades"]


# -- in the browser -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    chrome = start_chrome()
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "viewer"
    ds = _rows()
    return view_with(ds, out, ds.filter(lambda row: row["teacher"] == "gamma"))


def view_with(ds: Dataset, out: Path, picked: Dataset | None = None) -> Path:
    from hf_select.outputs import output_folder

    with output_folder(out) as staging:
        for path, content in viewer_files(ds, ViewerData(title="test viewer", picked=picked)).items():
            staging.write_bytes(path, content)
    return out


def _open(browser, site: Path, fragment: str = ""):
    browser.get("about:blank")  # a fresh load, not a hash change of the page already open
    browser.get(f"{(site / 'index.html').as_uri()}{fragment}")
    _wait(browser, "return document.body.dataset.ready === 'true'")


def _wait(browser, script: str, seconds: float = 10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if browser.execute_script(script):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _lightness(css_colour: str) -> float:
    """The relative luminance of an rgba() background over white."""
    red, green, blue, alpha = (float(x) for x in re.findall(r"[\d.]+", css_colour)[:4])
    return sum(
        w * (c * alpha + 255 * (1 - alpha)) for w, c in zip((0.2126, 0.7152, 0.0722), (red, green, blue), strict=True)
    )


def _shown_prompts(browser) -> list[int]:
    # one script, not one call per link: a search the typing pause has yet to run may redraw the list meanwhile
    return browser.execute_script("return [...document.querySelectorAll('#prompt-list a')].map(a => +a.dataset.prompt)")


def test_a_prompt_shows_every_teacher_and_each_step_shaded_by_its_score(browser, site):
    _open(browser, site, "#view=prompts&p=1")
    _wait(browser, "return document.querySelectorAll('.response').length === 3")
    teachers = [e.get_attribute("data-teacher") for e in browser.find_elements("css selector", ".response")]
    assert teachers == TEACHERS
    steps = browser.find_elements("css selector", ".response[data-teacher=alpha] .step.start")
    assert [float(s.get_attribute("data-score")) for s in steps] == [-1.0, -6.0, -2.0]
    assert steps[1].get_attribute("title") == "step 2: -6.000"
    lightness = [_lightness(s.value_of_css_property("background-color")) for s in steps]
    assert lightness[1] < lightness[2] < lightness[0]  # viridis: the least natural step is the darkest
    assert [s.get_attribute("data-value") for s in steps] == ["-1.00", "-6.00", "-2.00"]  # readable unhovered
    assert browser.execute_script("return getComputedStyle(arguments[0], '::before').content", steps[1]) == '"-6.00"'
    assert browser.find_element("css selector", ".response[data-teacher=gamma] details.think").get_attribute("open")
    assert browser.find_elements("css selector", ".response.is-picked")[0].get_attribute("data-teacher") == "gamma"
    assert browser.find_element("css selector", ".response[data-teacher=beta] .badge.wrong") is not None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "prompt.png"))
    _open(browser, site, "#view=overview")
    _wait(browser, "return document.querySelectorAll('#overview table').length > 0")
    ranking = browser.find_element("css selector", "#overview table caption").text
    assert "local_naturalness" in ranking
    assert len(browser.find_elements("css selector", "#overview .ci-range")) == 3  # each teacher's interval drawn
    browser.save_screenshot(str(ARTIFACTS / "overview.png"))
    assert console_errors(browser) == []


def test_search_filters_and_sorting_change_the_list(browser, site):
    _open(browser, site, "#view=prompts")
    assert _shown_prompts(browser) == list(range(6))
    search = browser.find_element("css selector", "#search")
    search.send_keys("needle")
    _wait(browser, "return document.querySelectorAll('#prompt-list a').length === 1")
    assert _shown_prompts(browser) == [4] and "needle" in browser.current_url.lower()
    search.clear()
    search.send_keys(" ")  # an input event with an empty query
    browser.execute_script(
        "const s = document.getElementById('filter-correct'); s.value = 'no';s.dispatchEvent(new Event('change'))"
    )
    assert _shown_prompts(browser) == []  # alpha is right on every prompt
    browser.execute_script(
        "const s = document.getElementById('filter-correct'); s.value = '';"
        "s.dispatchEvent(new Event('change'));"
        "const t = document.getElementById('filter-teacher'); t.value = '1';"
        "const p = document.getElementById('filter-picked'); p.value = 'yes';"
        "p.dispatchEvent(new Event('change'))"
    )
    assert _shown_prompts(browser) == []  # beta is never picked
    browser.execute_script(
        "const t = document.getElementById('filter-teacher'); t.value = '2';t.dispatchEvent(new Event('change'))"
    )
    assert _shown_prompts(browser) == list(range(6))
    _wait(browser, "return document.querySelectorAll('.response.is-highlighted').length === 1")
    assert browser.find_element("css selector", ".response.is-highlighted").get_attribute("data-teacher") == "gamma"
    assert len(browser.find_elements("css selector", ".response")) == 3  # the others stay beside it
    browser.execute_script(
        "['filter-teacher', 'filter-picked'].forEach((id) => { const s = "
        "document.getElementById(id); s.value = ''; s.dispatchEvent(new Event('change')); });"
        "const s = document.getElementById('sort'); s.value = '0';"
        "s.dispatchEvent(new Event('change'))"
    )
    assert _shown_prompts(browser)[0] == 3  # beta's local_naturalness is far ahead on prompt 3
    assert console_errors(browser) == []


def test_the_keyboard_moves_between_prompts_and_focuses_search(browser, site):
    _open(browser, site, "#view=prompts&p=1")
    _wait(browser, "return document.querySelector('#prompt h2')?.textContent === 'Prompt #1'")
    body = browser.find_element("css selector", "body")
    body.send_keys("j")
    _wait(browser, "return document.querySelector('#prompt h2')?.textContent === 'Prompt #2'")
    assert "p=2" in browser.current_url
    body.send_keys("k")
    _wait(browser, "return document.querySelector('#prompt h2')?.textContent === 'Prompt #1'")
    body.send_keys("/")
    assert browser.execute_script("return document.activeElement.id") == "search"
    first_step = browser.find_element("css selector", ".step.start")
    assert first_step.get_attribute("tabindex") == "0" and first_step.get_attribute("aria-label").startswith("step 1")
    assert console_errors(browser) == []


def test_one_tab_stop_per_response_arrow_keys_between_its_steps(browser, site):
    _open(browser, site, "#view=prompts&p=1")
    _wait(browser, "return document.querySelectorAll('.response').length === 3")
    tab_stops = browser.execute_script(
        "return [...document.querySelectorAll('.response')].map(r => r.querySelectorAll('[tabindex=\"0\"]').length)"
    )
    assert tab_stops == [1, 1, 1]
    steps = browser.find_elements("css selector", ".response[data-teacher=alpha] .step.start")
    steps[0].send_keys(Keys.ARROW_RIGHT)
    assert browser.switch_to.active_element == steps[1] and steps[1].get_attribute("tabindex") == "0"
    steps[1].send_keys(Keys.END)
    assert browser.switch_to.active_element == steps[-1]
    steps[-1].send_keys(Keys.TAB)  # Tab leaves the response: the next response's first step
    beta = browser.find_elements("css selector", ".response[data-teacher=beta] .step.start")[0]
    assert browser.switch_to.active_element == beta


def test_the_shade_control_keeps_the_focus_and_only_the_count_is_live(browser, site):
    _open(browser, site, "#view=prompts&p=1")
    _wait(browser, "return document.querySelectorAll('.response').length === 3")
    Select(browser.find_element("id", "shade")).select_by_value("none")
    _wait(browser, "return !document.querySelector('.step.start')")
    assert browser.switch_to.active_element.get_attribute("id") == "shade"
    live = browser.execute_script("return [...document.querySelectorAll('[aria-live]')].map(e => e.id)")
    assert live == ["count"]


def test_search_runs_once_the_typing_pauses(browser, site):
    """Typing a word filters the list once, not once per keystroke."""
    _open(browser, site, "#view=prompts")
    browser.execute_script(
        "window.renders = 0; new MutationObserver(() => window.renders++)"
        ".observe(document.getElementById('prompt-list'), {childList: true})"
    )
    browser.find_element("id", "search").send_keys("needle")
    _wait(browser, "return document.querySelectorAll('#prompt-list a').length === 1")
    time.sleep(0.4)
    assert browser.execute_script("return window.renders") == 1


@pytest.mark.parametrize("fragment", ["#view=overview", "#view=prompts&p=1"])
def test_no_serious_accessibility_violation(browser, site, fragment):
    """axe-core (tests/axe, from npm, injected offline) audits the page as a person opens it."""
    _open(browser, site, fragment)
    if "p=1" in fragment:
        _wait(browser, "return document.querySelectorAll('.response').length === 3")
    browser.execute_script((Path(__file__).parent / "axe" / "axe.min.js").read_text())
    result = browser.execute_async_script("const done = arguments[0]; axe.run(document).then(done)")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    assert result["passes"]  # the audit ran


def test_provenance_sentences_are_shaded_when_chosen(browser, tmp_path):
    text = "The teacher wrote this. The student knew that."
    ds = Dataset.from_dict(
        {
            "prompt": ["p"],
            "response": [text],
            "teacher": ["alpha"],
            "prov_sentence_spans": [[[0, 23], [24, 46]]],
            "prov_sentence_margins": [[35 / 23, -1.0]],
            "prov_category": [["teacher", "student"]],
        }
    )
    site = view_with(ds, tmp_path / "viewer")
    _open(browser, site, "#view=prompts&p=0")
    _wait(browser, "return document.querySelectorAll('.sentence.start').length === 2")
    first, second = browser.find_elements("css selector", ".sentence.start")
    assert first.get_attribute("title") == "sentence 1: 1.522 (teacher)"
    assert float(second.get_attribute("data-score")) == pytest.approx(-1.0)
    assert console_errors(browser) == []


def test_latex_is_drawn_offline_and_math_cut_by_a_span_stays_as_written(browser, tmp_path):
    """Math traces are the main use: `$...$`, `\\(...\\)` and `$$...$$` are drawn by the vendored KaTeX, in the prompt
    and the reply, with no network; a formula a step boundary cuts through is left as written."""
    text = "We need $10.6 \\div 4$ first.\n\nSo \\(x = \\frac{53}{20}\\) and $$x^2 > 7$$\n\nCut $a\n\nb$ here."
    spans = [[0, a, b] for a, b in split_steps(text)]
    ds = Dataset.from_dict(
        {
            "prompt": ["Compute $10.6 \\div 4$."],
            "response": [text],
            "teacher": ["alpha"],
            "local_step_scores": [[-1.0] * len(spans)],
            "local_step_spans": [spans],
        }
    )
    site = view_with(ds, tmp_path / "viewer")
    assert (site / "katex" / "fonts" / "KaTeX_Main-Regular.woff2").is_file() and (site / "katex" / "LICENSE").is_file()
    _open(browser, site, "#view=prompts&p=0")
    _wait(browser, "return document.querySelectorAll('.response .katex').length === 3")
    assert browser.execute_script("return document.querySelectorAll('.context .katex').length") == 1
    assert browser.execute_script("return document.querySelectorAll('.response .katex-display').length") == 1
    shown = browser.find_element("css selector", ".response .text").text
    assert "\\div" not in shown.split("Cut")[0] and "$a" in shown  # drawn; the cut one as written
    assert browser.execute_script("return document.querySelectorAll('.response .step.start').length") == len(spans)
    assert console_errors(browser) == []


def test_ten_thousand_prompts_by_eight_teachers_stay_responsive(browser, tmp_path):
    """The scale the issue asks for: size on disk, time to first paint and to open a prompt (printed, and kept in
    test-artifacts/viewer/scale.json)."""
    prompts, teachers = 10_000, 8
    text = (
        "Let me set up the problem carefully and name every quantity.\n\n"
        "Then I compute the two partial results, one after the other.\n\n"
        "Checking the result against the question: it fits. The answer is 42."
    )
    spans = [[0, a, b] for a, b in split_steps(text)]
    steps = len(spans)
    ds = Dataset.from_dict(
        {
            "prompt_id": [p for p in range(prompts) for _ in range(teachers)],
            "prompt": [f"Problem {p}: find the number that ..." for p in range(prompts) for _ in range(teachers)],
            "response": [text] * (prompts * teachers),
            "teacher": [f"teacher_{t}" for _ in range(prompts) for t in range(teachers)],
            "local_naturalness": [-(p % 97) / 10 - t for p in range(prompts) for t in range(teachers)],
            "local_step_scores": [[-(p % 97) / 10 - t] * steps for p in range(prompts) for t in range(teachers)],
            "local_step_spans": [spans] * (prompts * teachers),
        }
    )
    start = time.perf_counter()
    site = view_with(ds, tmp_path / "viewer", ds.select(range(0, len(ds), teachers)))
    build = time.perf_counter() - start
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    index = (site / "data/index.js").stat().st_size
    _open(browser, site, "#view=prompts")
    paint = browser.execute_script(
        "const e = performance.getEntriesByName('first-contentful-paint')[0];return e ? e.startTime : null"
    )
    ready = browser.execute_script("return performance.now()")
    assert len(_shown_prompts(browser)) == 200 and "10000 of 10000" in browser.find_element("id", "count").text
    opened = time.perf_counter()
    browser.execute_script("location.hash = '#view=prompts&p=9999'")
    _wait(browser, "return document.querySelectorAll('.response').length === 8")
    open_seconds = time.perf_counter() - opened
    figures = {
        "prompts": prompts,
        "teachers": teachers,
        "build_seconds": round(build, 1),
        "size_mb": round(size / 1e6, 1),
        "index_mb": round(index / 1e6, 2),
        "first_paint_ms": round(paint),
        "ready_ms": round(ready),
        "open_prompt_ms": round(open_seconds * 1000),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "scale.json").write_text(json.dumps(figures, indent=2))
    print(figures)
    assert not math.isnan(paint) and paint < 5000 and ready < 10_000 and open_seconds < 5
    assert index < 5e6  # what the first paint waits for stays small: pages load on demand
    assert console_errors(browser) == []


# -- from a run -----------------------------------------------------------------------------------------------
def test_a_run_writes_the_viewer_next_to_the_card_and_marks_its_picks(tiny_root, tmp_path, browser):
    from hf_select.runner import run_recipe_file

    out = tmp_path / "out"
    result = run_recipe_file(
        "local_response_selection",
        [
            f"models.student.name_or_path={tiny_root / 'llama'}",
            "dataset.limit=12",
            f"output.dir={out}",
            "output.viewer=true",
        ],
        push=False,
    )
    site = out / "viewer/train"
    assert (site / "index.html").is_file() and "(viewer/train/index.html)" in DatasetCard.load(out / "README.md").text
    assert len(load_dataset(str(out), split="train")) == len(result.curated)  # the viewer does not disturb loading
    picked = [r for p in _data(_files(site), "page-00000") for r in p["responses"] if r["picked"]]
    assert sorted(result.scored[r["row"]]["id"] for r in picked) == sorted(result.curated["id"])
    curated = _data(viewer_files(result.curated), "page-00000")  # TRL's columns now, the steps still found
    assert all("steps" in r["turns"][-1]["shades"] for p in curated for r in p["responses"])
    _open(browser, site, "#view=prompts")
    assert len(browser.find_elements("css selector", "#prompt-list a")) == len({r["prompt"] for r in result.scored})
    assert console_errors(browser) == []


def test_a_run_without_rankings_shows_its_teachers_from_wherever_the_recipe_names_them(tiny_root, tmp_path):
    """The teacher column named only under `compare.teacher` gave a viewer without teachers, and a run without
    `rank_teachers:` an overview saying "one teacher or no score" over four (#29)."""
    from datasets import Dataset

    from hf_select.runner import run_recipe_file
    from hf_select.sources import builtin_data_path

    rows = load_dataset("json", data_files=builtin_data_path("hf_select:math_teachers"), split="train")
    data = tmp_path / "rows.jsonl"
    Dataset.from_list([{**r, "model": r["teacher"]} for r in rows.select(range(16))]).remove_columns("teacher").to_json(
        data
    )
    out = tmp_path / "out"
    run_recipe_file(
        "proxy_comparison",
        [
            f"models.student.name_or_path={tiny_root / 'llama'}",
            f"dataset.path={data}",
            "dataset.name=null",
            "compare.teacher=model",
            f"output.dir={out}",
            "output.viewer=true",
            "select={method: none}",
        ],
        push=False,
    )
    overview = _data(_files(out / "viewer/train"), "overview")
    assert sorted(overview["teachers"]) == sorted(set(rows.select(range(16))["teacher"]))
    assert overview["rankings"] and {r["score"] for r in overview["rankings"]} >= {"local_naturalness"}


def test_a_missing_browser_fails_loudly_with_the_install_command(monkeypatch):
    import browser as browser_module

    monkeypatch.delenv("CHROME_BIN", raising=False)
    monkeypatch.delenv("CHROMEDRIVER", raising=False)
    monkeypatch.setattr(browser_module.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y --no-install-recommends chromium"):
        start_chrome()


def test_an_infinite_score_is_shown_without_a_value_and_counted(tmp_path):
    """One -inf score made `hf-select view` end in a ValueError traceback (JSON has no infinity) (#29)."""
    ds = _rows()
    values = list(ds["local_naturalness"])
    values[0] = float("-inf")
    ds = ds.remove_columns("local_naturalness").add_column("local_naturalness", values)
    files = viewer_files(ds)
    assert any("1 value(s) of `local_naturalness` are infinite" in note for note in _data(files, "overview")["notes"])


def test_an_edited_viewer_file_is_refused_before_scoring(tiny_root, tmp_path, monkeypatch):
    """A person-edited viewer file was refused only after every row was scored (#29); a stranger's own file there
    is no obstacle (the write never touches it)."""
    from hf_select.errors import OutputError
    from hf_select.runner import run_recipe_file
    from hf_select.scores.base import Scorer

    out = tmp_path / "out"
    sets = [
        f"models.student.name_or_path={tiny_root / 'llama'}",
        "dataset.limit=8",
        f"output.dir={out}",
        "output.viewer=true",
    ]
    run_recipe_file("local_response_selection", sets, push=False)
    (out / "viewer/train/notes.txt").write_text("mine")
    (out / "viewer/train/index.html").write_text("<p>edited</p>")
    scored = []
    monkeypatch.setattr(Scorer, "compute", lambda self, rows, log: scored.append(1) or [])
    with pytest.raises(OutputError, match="index.html was written by hf_select but has been changed since"):
        run_recipe_file("local_response_selection", [*sets, "scores.1.window=3"], push=False)
    assert scored == [] and (out / "viewer/train/notes.txt").read_text() == "mine"


def test_a_folder_of_two_configs_is_viewed_by_the_config_named(tmp_path, capsys):
    """`view` of a folder holding two configs showed the default one silently, with no way to choose (#29)."""
    from hf_select.cli import main
    from hf_select.hub import write_local

    folder = tmp_path / "out"
    write_local(_rows(2), folder, split="train")
    write_local(_rows(3), folder, split="train", config_name="hard")
    assert main(["view", str(folder), "--out", str(tmp_path / "v")]) == 2
    assert "holds the configs" in capsys.readouterr().err and not (tmp_path / "v").exists()
    assert main(["view", str(folder), "--config", "hard", "--out", str(tmp_path / "v")]) == 0
    assert len(_data(_files(tmp_path / "v"), "index")) == 3  # the three prompts of config `hard`


def test_steps_split_by_lines_are_shaded_on_lines_even_without_metadata(llama, tmp_path):
    """A split other than the default, read back with its metadata lost (a Parquet round trip): the viewer used to
    recompute paragraph steps and shade them with the line steps' values (#29). Stored spans are drawn as stored."""
    from hf_select import LocalNaturalness, score

    text = "First line.\nSecond line.\n\nThird, after a blank line.\nFourth."
    rows = Dataset.from_list([{"prompt": "Q?", "response": text}, {"prompt": "R?", "response": "One.\nTwo."}])
    scored = score(rows, LocalNaturalness(llama, splitter="line"))
    scored.to_parquet(tmp_path / "scored.parquet")
    bare = Dataset.from_parquet(str(tmp_path / "scored.parquet"))
    for data in (scored, bare):
        steps = _data(viewer_files(data), "page-00000")[0]["responses"][0]["turns"][0]["shades"]["steps"]
        assert [text[a:b].strip() for a, b, _, _ in steps] == [line for line in text.split("\n") if line]
        assert [s[2] for s in steps] == pytest.approx(scored[0]["local_step_scores"])
    stale = scored.remove_columns("local_step_spans")  # scored before spans were stored
    files = viewer_files(stale)
    assert "shades" not in _data(files, "page-00000")[0]["responses"][0]["turns"][0]
    assert any("local_step_spans" in note for note in _data(files, "overview")["notes"])


def test_a_new_score_with_spans_is_shaded_with_no_viewer_change():
    """A toy score, defined here, declares its spans (every word, valued by its length): the viewer shades it, with
    its own layer, label and unit, knowing nothing of it."""
    from datasets import List, Value

    from hf_select import score
    from hf_select.columns import Shade
    from hf_select.scoring import MapPass, PassParams

    class WordLengths(MapPass):
        name = "word_lengths"
        reads_shape = True
        shades = (Shade("words", "word_spans", "word_lengths", "letters per word", "word"),)

        def __init__(self) -> None:
            self.shape, self.params = Shape(), PassParams()

        def input_columns(self) -> list[str]:
            return self.shape.columns()

        def features(self) -> dict:
            return {"word_spans": List(List(Value("int64"))), "word_lengths": List(Value("float64"))}

        def config(self) -> dict:
            return {"score": self.name}

        def compute(self, rows, log):
            out = []
            for row in rows:
                (turn,) = self.shape.read(row)
                spans = [[m.start(), m.end()] for m in re.finditer(r"\S+", turn.text)]
                out.append({"word_spans": spans, "word_lengths": [float(b - a) for a, b in spans]})
            return out

    ds = score(Dataset.from_list([{"prompt": "Q?", "response": "Four is 4."}]), WordLengths())
    files = viewer_files(ds)
    words = _data(files, "page-00000")[0]["responses"][0]["turns"][0]["shades"]["words"]
    assert words == [[0, 4, 4.0, None], [5, 7, 2.0, None], [8, 10, 2.0, None]]
    layer = _data(files, "overview")["layers"]["words"]
    assert layer["label"] == "letters per word" and layer["unit"] == "word" and layer["scale"] == "sequential"
