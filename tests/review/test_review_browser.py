"""The review page in a real headless Chromium (Debian's, driven by Selenium through
/usr/bin/chromedriver): key prompt, drawn annotations of a known sample, sorting by score,
search (and its error), paging, and copy with the guard, read back through the SDK.
A screenshot is saved under test-artifacts/ (its path is printed).

One Chromium for the module (about 2 s to start); each test loads the page anew on its
own sandbox. Waits poll the page for the expected state, never sleep a fixed time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from reviewkit import ARTIFACTS, KEY, Prediction, category_ids, demo_manifest
from segments import SegmentsClient
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from upload_preds.sandbox import SandboxHandle, start_sandbox

pytestmark = pytest.mark.slow

TIMEOUT = 15


def wait_for(driver: Any, what: str, cond: Callable[[], Any]) -> Any:
    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(lambda _: cond())
    except TimeoutException:
        raise AssertionError(f"the page never showed {what} within {TIMEOUT} s") from None


def names_shown(driver: Any) -> list[str]:
    # One script call: the cards are replaced while a page loads, so element
    # handles taken one by one can go stale between two reads.
    names: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#samples article.card')]"
        ".map((e) => e.dataset.sampleName)"
    )
    return names


def text_of(driver: Any, selector: str) -> str:
    text: str = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", selector
    )
    return text


def click(driver: Any, selector: str) -> None:
    """A real click, after scrolling the element to the middle (the header is sticky)."""
    element = driver.find_element(By.CSS_SELECTOR, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def open_page(driver: Any, sb: SandboxHandle, query: str = "") -> None:
    driver.get(f"{sb.url}{query}#key={KEY}")
    wait_for(driver, "sample cards", lambda: len(names_shown(driver)) > 0)


def panel(driver: Any, sample: str, labelset: str) -> Any:
    return driver.find_element(
        By.CSS_SELECTOR,
        f'article[data-sample-name="{sample}"] [data-labelset-panel="{labelset}"]',
    )


def test_asks_for_the_key_and_rejects_a_wrong_one(
    chrome: Any, review_sandbox: SandboxHandle
) -> None:
    chrome.get(review_sandbox.url)
    chrome.execute_script("sessionStorage.clear()")
    chrome.get(review_sandbox.url)
    key_panel = chrome.find_element(By.ID, "key-panel")
    wait_for(chrome, "the key form", key_panel.is_displayed)
    chrome.find_element(By.ID, "key-input").send_keys("not-the-key\n")
    wait_for(
        chrome, "the wrong-key message", lambda: "not accepted" in text_of(chrome, "#key-error")
    )
    chrome.find_element(By.ID, "key-input").send_keys(KEY + "\n")
    wait_for(chrome, "24 samples", lambda: len(names_shown(chrome)) == 24)
    assert not key_panel.is_displayed()
    assert KEY not in chrome.current_url  # the fragment, when used, is removed too


def test_draws_every_annotation_of_a_known_sample(
    chrome: Any, review_sandbox: SandboxHandle, preds: list[Prediction]
) -> None:
    open_page(chrome, review_sandbox, "?sort=name")
    sample = demo_manifest()["datasets"][0]["samples"][0]
    gt = sample["labels"]["ground-truth"]["attributes"]["annotations"]
    pred = next(p for p in preds if p.sample_name == sample["name"])
    gt_panel = panel(chrome, sample["name"], "ground-truth")
    pred_panel = panel(chrome, sample["name"], "predictions")
    for node, anns in ((gt_panel, gt), (pred_panel, pred.annotations)):
        for kind, tag in (("bbox", "rect"), ("polygon", "polygon"), ("point", "circle")):
            drawn = node.find_elements(By.CSS_SELECTOR, f"svg {tag}[data-type={kind}]")
            assert len(drawn) == sum(a["type"] == kind for a in anns), (kind, len(drawn))
    # Category colours come from the dataset: the first car box is drawn in the car colour.
    car = next(
        c
        for c in demo_manifest()["datasets"][0]["task_attributes"]["categories"]
        if c["name"] == "car"
    )
    rect = gt_panel.find_element(By.CSS_SELECTOR, 'svg rect[data-category="car"]')
    assert rect.get_attribute("stroke") == "rgba({}, {}, {}, 1)".format(*car["color"])
    # The image is the committed PNG, loaded and sized.
    img = gt_panel.find_element(By.TAG_NAME, "img")
    wait_for(
        chrome,
        "the loaded image",
        lambda: chrome.execute_script("return arguments[0].naturalWidth", img) == 640,
    )
    assert gt_panel.get_attribute("data-status") == "LABELED"


def test_sorts_by_score_both_ways(
    chrome: Any, review_sandbox: SandboxHandle, preds: list[Prediction]
) -> None:
    open_page(chrome, review_sandbox, "?sort=name")
    high_first = [p.sample_name for p in sorted(preds, key=lambda p: -p.score)]
    sort = Select(chrome.find_element(By.ID, "sort"))
    sort.select_by_value("-score:predictions")
    wait_for(chrome, "high scores first", lambda: names_shown(chrome) == high_first)
    sort.select_by_value("score:predictions")
    wait_for(chrome, "low scores first", lambda: names_shown(chrome) == high_first[::-1])
    sort.select_by_value("-name")
    wait_for(
        chrome, "names Z to A", lambda: names_shown(chrome) == sorted(high_first, reverse=True)
    )


def test_search_lists_the_right_samples_and_points_at_errors(
    chrome: Any, review_sandbox: SandboxHandle, preds: list[Prediction]
) -> None:
    open_page(chrome, review_sandbox, "?sort=name")
    car = category_ids()["car"]
    gt = {
        s["name"]: s["labels"]["ground-truth"]["attributes"]["annotations"]
        for s in demo_manifest()["datasets"][0]["samples"]
        if "ground-truth" in s["labels"]
    }
    expected = sorted(
        p.sample_name
        for p in preds
        if sum(a["category_id"] == car for a in gt.get(p.sample_name, [])) > 0
        and sum(a["category_id"] == car for a in p.annotations) == 0
    )
    box = chrome.find_element(By.ID, "query")
    box.clear()
    box.send_keys("ground-truth.car:>0 predictions.car:=0\n")
    wait_for(chrome, f"the matches {expected}", lambda: names_shown(chrome) == expected)
    assert chrome.find_element(By.ID, "samples").get_attribute("data-total") == str(len(expected))
    box.clear()
    box.send_keys("ground-truth.car:>0 predictions.cars:=0\n")
    error = chrome.find_element(By.ID, "query-error")
    wait_for(chrome, "the query error", error.is_displayed)
    lines = text_of(chrome, "#query-error").splitlines()
    assert lines[0].strip() == "ground-truth.car:>0 predictions.cars:=0"
    assert lines[1].index("^") == lines[0].index("cars")
    assert "did you mean car" in lines[1]
    assert box.get_attribute("aria-invalid") == "true"


def test_pages_through_the_samples(chrome: Any, review_sandbox: SandboxHandle) -> None:
    open_page(chrome, review_sandbox, "?sort=name&per_page=12")
    all_names = sorted(s["name"] for s in demo_manifest()["datasets"][0]["samples"])
    wait_for(chrome, "page 1", lambda: names_shown(chrome) == all_names[:12])
    assert text_of(chrome, "#page-info") == "Page 1 of 2 · 24 samples"
    click(chrome, ".pager .next")
    wait_for(chrome, "page 2", lambda: names_shown(chrome) == all_names[12:])
    assert text_of(chrome, "#page-info") == "Page 2 of 2 · 24 samples"
    assert not chrome.find_element(By.CSS_SELECTOR, ".pager .next").is_enabled()
    assert "page=2" in chrome.current_url
    chrome.back()  # the page number is in the history
    wait_for(chrome, "page 1 again", lambda: names_shown(chrome) == all_names[:12])


def test_copy_button_and_the_guard(
    chrome: Any, review_sandbox: SandboxHandle, preds: list[Prediction]
) -> None:
    open_page(chrome, review_sandbox, "?sort=name")
    target = next(p for p in preds[5:] if p.annotations)  # no ground truth yet
    card = f'article[data-sample-name="{target.sample_name}"]'
    click(chrome, f'{card} button.copy[data-from="predictions"]')
    wait_for(chrome, "the copied message", lambda: "Copied" in text_of(chrome, f"{card} .msg"))
    drawn = chrome.execute_script(
        "return document.querySelectorAll(arguments[0]).length",
        f'{card} [data-labelset-panel="ground-truth"] svg rect',
    )
    assert drawn == sum(a["type"] == "bbox" for a in target.annotations)
    with SegmentsClient(KEY, api_url=review_sandbox.url) as sdk:
        label = sdk.get_label(target.sample_uuid, labelset="ground-truth")
    assert label.label_status == "PRELABELED"
    got = [a.points for a in label.attributes.annotations]
    assert got == [a["points"] for a in target.annotations]

    # img_0001's ground truth was LABELED by a person: refused until "overwrite".
    card = f'article[data-sample-name="{preds[0].sample_name}"]'
    click(chrome, f'{card} button.copy[data-from="predictions"]')
    wait_for(chrome, "the refusal", lambda: "LABELED label" in text_of(chrome, f"{card} .msg"))
    with SegmentsClient(KEY, api_url=review_sandbox.url) as sdk:
        status = sdk.get_label(preds[0].sample_uuid, labelset="ground-truth").label_status
    assert status == "LABELED"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "review-page.png"
    chrome.save_screenshot(str(shot))
    print(f"\nscreenshot: {shot}")
    click(chrome, f"{card} button.overwrite")
    wait_for(
        chrome, "the overwrite", lambda: "replaced a LABELED" in text_of(chrome, f"{card} .msg")
    )
    with SegmentsClient(KEY, api_url=review_sandbox.url) as sdk:
        status = sdk.get_label(preds[0].sample_uuid, labelset="ground-truth").label_status
    assert status == "PRELABELED"


# -- issue 12: the review page's bugs -------------------------------------------------

COLLECT_ERRORS = (
    "window.__errors = [];"
    "window.addEventListener('error', (e) => window.__errors.push(String(e.message)));"
    "window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));"
)


def page_errors(driver: Any) -> list[str]:
    errors: list[str] = driver.execute_script("return window.__errors || []")
    return errors


def test_a_key_added_to_an_open_tabs_address_is_taken_and_cleared(
    chrome: Any, review_sandbox: SandboxHandle
) -> None:
    chrome.get(review_sandbox.url)
    chrome.execute_script("sessionStorage.clear()")
    chrome.get(f"{review_sandbox.url}?sort=name")
    wait_for(chrome, "the key form", chrome.find_element(By.ID, "key-panel").is_displayed)
    chrome.execute_script(COLLECT_ERRORS)
    # What a user does by pasting "#key=..." after the address of the open tab.
    chrome.execute_script("location.hash = arguments[0]", f"#key={KEY}")
    wait_for(chrome, "24 samples", lambda: len(names_shown(chrome)) == 24)
    assert page_errors(chrome) == []
    assert KEY not in chrome.current_url
    assert "#" not in chrome.current_url
    assert chrome.current_url.endswith("?sort=name")
    assert not chrome.find_element(By.ID, "key-panel").is_displayed()


def test_a_bad_query_clears_the_previous_results(
    chrome: Any, review_sandbox: SandboxHandle
) -> None:
    open_page(chrome, review_sandbox, "?sort=name&per_page=12")
    wait_for(chrome, "the page count", lambda: "of 2" in text_of(chrome, ".page-info"))
    box = chrome.find_element(By.ID, "query")
    box.clear()
    box.send_keys("predictions.total_count:>=x\n")
    wait_for(chrome, "the query error", chrome.find_element(By.ID, "query-error").is_displayed)
    wait_for(chrome, "no cards", lambda: names_shown(chrome) == [])
    assert text_of(chrome, ".page-info") == ""
    assert chrome.find_element(By.ID, "samples").get_attribute("data-total") is None
    assert all(not b.is_enabled() for b in chrome.find_elements(By.CSS_SELECTOR, ".pager button"))
    # A good query afterwards shows results and pages again.
    box.clear()
    box.send_keys("predictions.total_count:>=0\n")
    wait_for(chrome, "12 cards", lambda: len(names_shown(chrome)) == 12)
    assert not chrome.find_element(By.ID, "query-error").is_displayed()
    assert "Page 1 of 2" in text_of(chrome, ".page-info")


def shown_sides(driver: Any) -> list[str]:
    sides: list[str] = driver.execute_script(
        "const c = document.querySelector('#samples article.card');"
        "return c ? [...c.querySelectorAll('[data-labelset-panel]')]"
        ".map((p) => p.dataset.labelsetPanel) : []"
    )
    return sides


@pytest.mark.parametrize(("side", "other"), [("ls-a", "ls-b"), ("ls-b", "ls-a")])
def test_picking_the_other_sides_set_swaps_left_and_right(
    chrome: Any, review_sandbox: SandboxHandle, side: str, other: str
) -> None:
    open_page(chrome, review_sandbox, "?a=ground-truth&b=predictions&sort=name")
    assert shown_sides(chrome) == ["ground-truth", "predictions"]
    taken = Select(chrome.find_element(By.ID, other)).first_selected_option.get_attribute("value")
    Select(chrome.find_element(By.ID, side)).select_by_value(taken)
    wait_for(
        chrome,
        "the sides swapped",
        lambda: shown_sides(chrome) == ["predictions", "ground-truth"],
    )
    assert "a=predictions" in chrome.current_url
    assert "b=ground-truth" in chrome.current_url


def test_a_shared_link_with_the_same_set_twice_shows_two_sets(
    chrome: Any, review_sandbox: SandboxHandle
) -> None:
    open_page(chrome, review_sandbox, "?a=predictions&b=predictions")
    assert shown_sides(chrome) == ["predictions", "ground-truth"]


def test_the_search_placeholder_is_made_of_the_datasets_own_names(
    chrome: Any, tmp_path: Any
) -> None:
    manifest = {
        "datasets": [
            {
                "owner": "o",
                "name": "lights",
                "task_type": "vector",
                "task_attributes": {
                    "format_version": "0.1",
                    "categories": [{"id": 7, "name": "traffic light"}, {"id": 8, "name": "bus"}],
                },
                "labelsets": [{"name": "gt"}, {"name": "model.v3"}],
                "samples": [{"name": "a.jpg", "attributes": {"image": {"url": "a.png"}}}],
            }
        ]
    }
    with start_sandbox(data=manifest, db=tmp_path / "p.sqlite3", api_key=KEY) as sb:
        # (every dataset also has ground-truth, first)
        open_page(chrome, sb)
        placeholder = chrome.find_element(By.ID, "query").get_attribute("placeholder")
        assert placeholder == 'ground-truth."traffic light":>0 gt."traffic light":=0'
        Select(chrome.find_element(By.ID, "ls-a")).select_by_value("gt")
        Select(chrome.find_element(By.ID, "ls-b")).select_by_value("model.v3")
        wait_for(chrome, "the new sides", lambda: "b=model.v3" in chrome.current_url)
        placeholder = chrome.find_element(By.ID, "query").get_attribute("placeholder")
        assert placeholder == 'gt."traffic light":>0 "model.v3"."traffic light":=0'
        # The placeholder is a query the dataset accepts.
        box = chrome.find_element(By.ID, "query")
        box.send_keys(placeholder + "\n")
        wait_for(chrome, "the search ran", lambda: "q=" in chrome.current_url)
        wait_for(chrome, "no cards", lambda: names_shown(chrome) == [])
        assert not chrome.find_element(By.ID, "query-error").is_displayed()
