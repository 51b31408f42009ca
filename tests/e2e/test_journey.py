"""The whole journey in a real browser with no API keys: script to downloaded MP4, a screenshot per step."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from app.pipeline.ffmpeg import ffmpeg_exe
from app.pipeline.probe import probe
from tests.pipeline.test_video_caption_timing import cue_onset_errors

from .ui import JOB_TIMEOUT, ROOT, create_project, cut_script, screenshot, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
FRAME = 1 / 30


def scene_texts(page: Page) -> list[str]:
    return page.locator(".scene-list textarea[id^=text-]").evaluate_all(
        "boxes => boxes.map(b => b.value)")


def cut_and_edit_scenes(page: Page) -> None:
    """Step 1: paste, cut, merge two scenes, split one at a sentence, undo the split."""
    cut_script(page, (ROOT / "examples/lighthouses.md").read_text())
    cut = page.locator(".scene-list > li.scene").count()
    assert cut >= 4
    expect(page.locator("#totals")).to_contain_text(re.compile(rf"Scenes\s*{cut}\b"))
    screenshot(page, "03-cut-into-scenes")

    first, second = scene_texts(page)[:2]
    page.locator(".scene-list > li.scene").first.get_by_role("button", name="Merge with next").click()
    expect(page.locator(".scene-list > li.scene")).to_have_count(cut - 1)
    merged = scene_texts(page)[0]
    assert first.strip() in merged and second.strip() in merged
    screenshot(page, "04-merged")

    scene = page.locator(".scene-list > li.scene").first
    split_point = scene.locator(".split-point").nth(1)  # between the second and third sentences
    starts = re.search(r"before “(.+?)…?”$", split_point.get_attribute("aria-label")).group(1)
    split_point.click()
    expect(page.locator(".scene-list > li.scene")).to_have_count(cut)
    before, after = scene_texts(page)[:2]
    assert after.startswith(starts.rstrip("…"))
    assert (before + " " + after).split() == merged.split()
    screenshot(page, "05-split")

    page.get_by_role("button", name="Undo", exact=True).click()
    expect(page.locator(".scene-list > li.scene")).to_have_count(cut - 1)
    assert scene_texts(page)[0] == merged
    screenshot(page, "06-undone")
    reorder_in_the_storyboard(page)


def quick_changes_to_the_look_are_all_kept(page: Page) -> None:
    """Step 3's "Consistent look": changes made while the one before is still being saved all stay; then
    the project's look is put back as it was."""
    style, seed = page.get_by_label("Visual style"), page.get_by_label("Seed number")
    before = style.input_value()
    expect(seed).to_be_disabled()
    style.fill("flat vector illustration, warm palette")
    style.dispatch_event("change")
    page.get_by_label("Same seed for every scene").check()
    expect(seed).to_be_enabled()
    page.get_by_label("Reference strength").fill("0.4")
    page.get_by_label("Reference strength").dispatch_event("change")
    expect(page.locator("#look-messages")).to_contain_text("Saved")
    expect(seed).not_to_have_value("")  # the seed chosen for the project is shown
    chosen = seed.input_value()
    page.wait_for_load_state("networkidle")  # every save answered before the reload
    page.reload()
    expect(page.get_by_label("Visual style")).to_have_value("flat vector illustration, warm palette")
    expect(page.get_by_label("Same seed for every scene")).to_be_checked()
    expect(page.get_by_label("Seed number")).to_have_value(chosen)
    expect(page.get_by_label("Reference strength")).to_have_value("0.4")
    page.get_by_label("Same seed for every scene").uncheck()
    expect(page.get_by_label("Seed number")).to_be_disabled()
    page.get_by_label("Visual style").fill(before)
    page.get_by_label("Visual style").dispatch_event("change")
    page.wait_for_load_state("networkidle")  # both saves answered: a reload would cut the second short
    page.reload()
    expect(page.get_by_label("Visual style")).to_have_value(before)
    expect(page.get_by_label("Same seed for every scene")).not_to_be_checked()


def scene_ids(page: Page) -> list[str]:
    return page.locator(".scene-list > li.scene").evaluate_all("scenes => scenes.map(s => s.dataset.scene)")


def reorder_in_the_storyboard(page: Page) -> None:
    """Drag a storyboard card onto another, move a scene to another chapter with its menu, then undo both."""
    order = scene_ids(page)
    page.locator(f"#sb-{order[1]}").drag_to(page.locator(f"#sb-{order[0]}"))
    expect(page.locator(".scene-list > li.scene").first).to_have_attribute("data-scene", order[1])
    assert scene_ids(page) == [order[1], order[0], *order[2:]]
    expect(page.locator(".sb-cards > li").first).to_have_attribute("data-scene", order[1])
    screenshot(page, "06a-reordered")

    last = page.locator(".scene-list > li.scene").last
    moving = last.get_attribute("data-scene")
    last.locator("summary", has_text=re.compile("More actions for scene")).click()
    last.get_by_label("Move to chapter").select_option(index=0)  # the first chapter
    last.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator(".scene-list > li.scene").last).not_to_have_attribute("data-scene", moving)
    chapters = page.locator(".scene-list > li.scene").evaluate_all(
        "scenes => scenes.map(s => s.classList.contains('starts-topic'))")
    position = scene_ids(page).index(moving)
    assert not any(chapters[1:position + 1]), "the scene is now the last of the first chapter"
    screenshot(page, "06b-moved-to-chapter")
    page.get_by_role("button", name="Undo", exact=True).click()
    expect(page.locator(".scene-list > li.scene").last).to_have_attribute("data-scene", moving)
    page.get_by_role("button", name="Undo", exact=True).click()
    expect(page.locator(".scene-list > li.scene").first).to_have_attribute("data-scene", order[0])
    assert scene_ids(page) == order


def describe_scenes(page: Page) -> None:
    """Step 2: suggestions fill every empty description; one is edited and autosaved."""
    page.get_by_role("link", name="Continue to Scenes →").click()
    descriptions = page.locator("#scene-cards textarea[id^=desc-]")
    assert all(not d for d in descriptions.evaluate_all("boxes => boxes.map(b => b.value)"))
    page.get_by_role("button", name="Suggest descriptions for empty scenes").click()
    expect(page.get_by_text("Suggestions ready.")).to_be_visible(timeout=JOB_TIMEOUT)
    for i in range(descriptions.count()):
        expect(descriptions.nth(i)).not_to_have_value("")
    screenshot(page, "07-suggested")

    first = descriptions.first
    first.fill("A white lighthouse on a rocky headland at dusk, waves breaking below")
    state_id = first.get_attribute("aria-describedby")
    expect(page.locator(f"#{state_id}")).to_have_text("Saved")
    page.reload()
    expect(descriptions.first).to_have_value(
        "A white lighthouse on a rocky headland at dusk, waves breaking below")
    screenshot(page, "08-description-edited")


def balance(page: Page):
    return page.get_by_role("banner").locator("#credit-balance .num")


def scene_cards(page: Page):
    return page.locator(".asset-grid > li.asset-card")


def wait_until_idle(page: Page) -> None:
    """The job poller stops polling itself when the batch is over."""
    expect(page.locator("#job-poller[hx-get]")).to_have_count(0, timeout=JOB_TIMEOUT)


def own_files(tmp_path: Path) -> tuple[Path, Path, float]:
    """My own files: an image made with Pillow and a 2.5 s "recording" (a tone) made with ffmpeg."""
    image = tmp_path / "my-photo.png"
    Image.new("RGB", (1600, 1000), (20, 90, 160)).save(image)
    recording, seconds = tmp_path / "my-recording.wav", 2.5
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    f"sine=frequency=330:duration={seconds}", "-ar", "48000", str(recording)],
                   check=True)
    return image, recording, seconds


def make_images_and_audio(page: Page, tmp_path: Path) -> None:
    """Step 3: draft images for all, one regenerated, own image and recording, voices, fit, preview."""
    page.get_by_role("link", name="Continue to Images & audio →").click()
    quick_changes_to_the_look_are_all_kept(page)
    cards = scene_cards(page)
    n = cards.count()
    credits = int(balance(page).inner_text())
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile(r"^Generate all missing")).click()
    expect(page.get_by_text(f"Queueing {n} images; progress shows on each scene.")).to_be_visible()
    # Live progress per scene: the last scene is still waiting while the first ones are drawn.
    expect(cards.last.locator(".job-line")).to_be_visible()
    screenshot(page, "09-generating")
    wait_until_idle(page)
    expect(cards.locator(".live > .frame img")).to_have_count(n)
    expect(balance(page)).to_have_text(str(credits - n))
    screenshot(page, "10-images")

    second = cards.nth(1)
    old_src = second.locator(".frame img").get_attribute("src")
    second.get_by_label("Image description").fill("A red lighthouse under a starry night sky")
    second.get_by_role("button", name=re.compile(r"^Regenerate")).click()
    expect(second.locator(".frame img")).not_to_have_attribute("src", old_src, timeout=JOB_TIMEOUT)
    expect(second.locator(".frame img")).to_have_attribute("alt", re.compile("red lighthouse"))
    expect(second.get_by_role("group", name=re.compile("Image versions"))).to_be_visible()
    screenshot(page, "11-regenerated")

    image, recording, seconds = own_files(tmp_path)
    third = cards.nth(2)
    third.get_by_text("Use my own image or recording").click()
    third.get_by_label("Image (PNG, JPEG or WebP)").set_input_files(image)
    third.get_by_role("button", name="Upload image (free)").click()
    expect(page.get_by_text("Scene 3: your image is in use (no credits used).")).to_be_visible()
    third.get_by_text("Use my own image or recording").click()
    third.get_by_label("Recording (WAV, MP3, M4A or OGG)").set_input_files(recording)
    third.get_by_role("button", name="Upload recording").click()
    expect(page.get_by_text("Scene 3: converting your recording…")).to_be_visible()
    wait_until_idle(page)
    expect(third.locator("audio")).to_have_count(1)
    screenshot(page, "12-own-image-and-recording")

    # The voice list: Piper by default, and a sample of its voice made on request, then played.
    voices = page.get_by_role("group", name="Voice", exact=True)
    expect(voices.get_by_role("radio", name=re.compile("^Joe"))).to_be_checked()
    voices.get_by_role("button", name=re.compile("^Play a sample of Joe")).click()
    expect(voices.locator("audio")).to_have_count(1, timeout=JOB_TIMEOUT)
    assert 2 < media_duration(page, ".voice-sample audio") < 8
    screenshot(page, "12a-voice-list")

    page.get_by_role("button", name="Voice all scenes that need it (free)").click()
    expect(page.get_by_text(f"Queueing {n - 1} voiceovers; progress shows on each scene.")).to_be_visible()
    wait_until_idle(page)
    expect(cards.locator(".sound audio")).to_have_count(n)
    expect(third.locator(".sound")).to_contain_text(f"Voice {seconds:.1f} s")  # own recording kept
    screenshot(page, "13-voiced")

    page.get_by_role("button", name="Fit all to audio").click()
    expect(page.get_by_text(f"Fitted {n} scenes to their audio.")).to_be_visible()
    expect(page.get_by_text("the voiceover is longer than the scene")).to_have_count(0)
    screenshot(page, "14-fitted")

    first = cards.first
    first.get_by_role("button", name="Preview scene").click()
    preview = first.locator("video.preview")
    expect(preview).to_be_visible(timeout=JOB_TIMEOUT)
    assert media_duration(page, f"#{first.get_attribute('id')} video.preview") > 1
    screenshot(page, "15-preview")


def scene_assets(page: Page) -> list[tuple]:
    """Per scene card in step 3: image, voiceover, description and whether it is flagged."""
    return scene_cards(page).evaluate_all("""cards => cards.map(c => [
        c.querySelector('.frame img')?.getAttribute('src'), c.querySelector('.sound audio')?.getAttribute('src'),
        c.querySelector('textarea[name=description]').value,
        !!c.querySelector('[data-flag=voice-outdated]')])""")


def edit_after_images_and_voices(page: Page) -> None:
    """Back to step 1 with everything made: merge keeps both voiceovers, undo keeps every asset, a
    text edit flags the voiceover in step 3 and in pre-flight, and re-voicing clears it."""
    made = scene_assets(page)
    assert all(image and voice for image, voice, _d, _f in made)
    voiced = [media_duration(page, f"#{scene_cards(page).nth(i).get_attribute('id')} .sound audio") for i in (0, 1)]
    page.get_by_role("link", name=re.compile(r"Script$")).click()
    page.locator(".scene-list > li.scene").first.get_by_role("button", name="Merge with next").click()
    expect(page.locator(".scene-list > li.scene")).to_have_count(len(made) - 1)
    expect(page.locator("[data-flag=voice-outdated]")).to_have_count(0)  # both voiceovers, joined
    page.get_by_role("navigation", name=re.compile("^Steps of")).get_by_role("link", name=re.compile(r"Images & audio$")).click()
    merged = scene_cards(page).first
    expect(merged.locator("[data-flag=voice-outdated]")).to_have_count(0)
    joined = media_duration(page, f"#{merged.get_attribute('id')} .sound audio")
    assert joined >= sum(voiced) - 0.1, (joined, voiced)  # the narration of both scenes, whole
    screenshot(page, "15a-merged-after-assets")

    page.get_by_role("link", name=re.compile(r"Script$")).click()
    page.get_by_role("button", name="Undo", exact=True).click()
    expect(page.locator(".scene-list > li.scene")).to_have_count(len(made))
    page.get_by_role("navigation", name=re.compile("^Steps of")).get_by_role("link", name=re.compile(r"Images & audio$")).click()
    assert scene_assets(page) == made  # every scene kept its description, image and voiceover

    page.get_by_role("link", name=re.compile(r"Script$")).click()
    page.locator(".scene-list > li.scene").nth(1).get_by_role("button", name=re.compile("^Edit text")).click()
    box = page.locator(".scene-list textarea[id^=text-]").nth(1)
    box.fill(box.input_value() + " Its beam reaches twenty miles out to sea.")
    expect(page.locator(".scene-list .save-state").nth(1)).to_have_text("Saved")
    page.reload()
    expect(page.locator("[data-flag=voice-outdated]")).to_have_count(1)
    page.get_by_role("navigation", name=re.compile("^Steps of")).get_by_role("link", name=re.compile(r"Images & audio$")).click()
    expect(scene_cards(page).nth(1)).to_contain_text("Voiceover out of date")
    screenshot(page, "15b-outdated-in-step-3")
    page.get_by_role("link", name="Continue to Video →").click()
    expect(page.locator(".checklist")).to_contain_text("Scene 2's voiceover is out of date")
    screenshot(page, "15c-outdated-in-preflight")
    page.get_by_role("button", name="Re-voice the 1 outdated scene (free)").click()
    expect(page.get_by_text("Queueing 1 voiceover")).to_be_visible()
    page.get_by_role("navigation", name=re.compile("^Steps of")).get_by_role("link", name=re.compile(r"Images & audio$")).click()
    wait_until_idle(page)
    expect(page.locator("[data-flag=voice-outdated]")).to_have_count(0)
    page.get_by_role("button", name="Fit all to audio").click()
    expect(page.get_by_text("the voiceover is longer than the scene")).to_have_count(0)


def media_duration(page: Page, selector: str) -> float:
    """The duration the browser itself reads from the file's metadata."""
    return page.eval_on_selector(selector, """el => new Promise((resolve, reject) => {
        if (el.readyState >= 1) return resolve(el.duration);
        el.addEventListener('loadedmetadata', () => resolve(el.duration), {once: true});
        el.addEventListener('error', () => reject(new Error('media error ' + el.error?.code)), {once: true});
        el.load();
    })""")


def choose_caption_style(page: Page) -> None:
    """Step 4: burn captions in, word by word; every change redraws the preview frame beside the settings."""
    preview = page.locator("img.caption-preview")
    expect(preview).to_be_visible()
    shown = preview.get_attribute("src")
    page.get_by_label("Burn captions into the picture").check()
    expect(page.get_by_label("Burn captions into the picture")).to_be_checked()
    page.locator("#caption-style").select_option("words")
    expect(preview).not_to_have_attribute("src", shown)
    page.locator("[name=caption_highlight]").fill("#ff5a1f")
    expect(page.locator("[name=caption_highlight]")).to_have_value("#ff5a1f")
    page.wait_for_function("() => { const i = document.querySelector('img.caption-preview');"
                           " return i && i.complete && i.naturalWidth === 960; }")
    preview.scroll_into_view_if_needed()
    screenshot(page, "15d-caption-style")
    # Three quick changes, each made while the one before was being saved: none is lost.
    page.reload()
    expect(page.get_by_label("Burn captions into the picture")).to_be_checked()
    expect(page.locator("#caption-style")).to_have_value("words")
    expect(page.locator("[name=caption_highlight]")).to_have_value("#ff5a1f")


def compile_and_download(page: Page, tmp_path: Path) -> None:
    """Step 4: compile with live progress, play the result in the page, download and inspect it."""
    page.get_by_role("link", name=re.compile(r"Script$")).click()
    narration = scene_texts(page)
    page.get_by_role("link", name=re.compile(r"Video$")).click()
    # Offline, every picture is a draft frame: pre-flight says so, and the video leaves out their label.
    expect(page.get_by_text(re.compile(r"still show a draft frame.*without their DRAFT label"))).to_be_visible()
    choose_caption_style(page)
    percents: list[int] = []

    def record_progress(response):
        if "/video/progress" in response.url and response.ok:
            found = re.search(r'class="pct">(\d+)%<', response.text())
            if found:
                percents.append(int(found.group(1)))
    page.on("response", record_progress)
    page.get_by_role("button", name=re.compile(r"^Compile video")).click()
    progress = page.locator("#compile-progress")
    expect(progress).to_be_visible()
    expect(progress.locator(".pct")).to_have_text(re.compile(r"^\d+%$"))
    screenshot(page, "16-compiling")
    video = page.locator("#result-video")
    expect(video).to_be_visible(timeout=2 * JOB_TIMEOUT)
    page.remove_listener("response", record_progress)
    assert len(percents) >= 2, percents
    assert percents == sorted(percents), f"progress went backwards: {percents}"
    screenshot(page, "17-compiled")

    expected = float(video.get_attribute("data-expected-duration"))
    played = media_duration(page, "#result-video")
    assert abs(played - expected) <= FRAME + 0.01, (played, expected)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download MP4").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".mp4")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    info = probe(path)
    assert (info.video.codec, info.video.profile, info.video.pix_fmt) == ("h264", "High", "yuv420p")
    assert (info.audio.codec, info.audio.sample_rate) == ("aac", 48000)
    assert abs(info.duration - expected) <= FRAME + 0.01, (info.duration, expected)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Captions (SRT)").click()
    captions = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert captions.startswith("1\n00:00:00,") and "lighthouse" in captions.lower()
    caption_words = words(" ".join(line for line in captions.splitlines() if line and "-->" not in line
                                   and not line.isdigit()))
    assert caption_words == words(" ".join(narration)), "the captions must carry every scene's text"
    # Word-timed captions: every cue that comes at a pause starts within 100 ms of its first word, as heard.
    at_pauses = [(start, error) for start, error in cue_onset_errors(path, captions) if error is not None]
    assert len(at_pauses) >= len(narration), at_pauses  # each scene's first cue at least
    assert all(abs(error) <= 0.1 for _, error in at_pauses), at_pauses
    # The longest pause by design: 1.2 s before a chapter, plus under a second so it starts on a whole second.
    assert silences_inside_narration(path, 2.3) == [], "no narration may go missing"


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def silences_inside_narration(video: Path, longest: float) -> list[tuple[float, float]]:
    """Silences longer than ``longest`` seconds between the first and last sound (ffmpeg silencedetect)."""
    log = subprocess.run([ffmpeg_exe(), "-v", "info", "-i", str(video), "-vn", "-af",
                          f"silencedetect=noise=-45dB:d={longest}", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    starts = [float(v) for v in re.findall(r"silence_start: ([\d.]+)", log)]
    ends = [float(v) for v in re.findall(r"silence_end: ([\d.]+)", log)]
    duration = probe(video).duration
    return [(s, e) for s, e in zip(starts, ends) if s > 0.05 and e < duration - 0.05]


def scenes_rendered(page: Page) -> tuple[int, int]:
    """(re-rendered, reused) scenes of the latest compile, as the page reports them."""
    summary = page.locator("#compile-area").inner_text()
    found = re.search(r"UTC in \d+ s · (\d+) scenes? (?:re-)?rendered(?:, (\d+) reused from the last video)?", summary)
    return int(found.group(1)), int(found.group(2) or 0)


def edit_one_scene_and_compile_again(page: Page) -> None:
    """Change one scene's picture (back to its first version), compile again: only its pieces re-render."""
    first_time = scenes_rendered(page)
    page.get_by_role("navigation", name=re.compile("^Steps of")).get_by_role("link", name=re.compile(r"Images & audio$")).click()
    versions = scene_cards(page).nth(1).get_by_role("group", name=re.compile("Image versions"))
    versions.get_by_role("button").first.click()
    expect(page.get_by_text("Scene 2 uses the chosen version.")).to_be_visible()
    page.get_by_role("link", name="Continue to Video →").click()
    page.get_by_role("button", name=re.compile(r"^Compile again")).click()
    expect(page.get_by_text("Previous compiles")).to_be_visible(timeout=2 * JOB_TIMEOUT)
    rendered, reused = scenes_rendered(page)
    assert 0 < rendered < first_time[0] and reused > 0, (first_time, (rendered, reused))
    screenshot(page, "18-recompiled")


WIDTHS = (390, 768, 1366, 2560)


def every_step_at_every_width(page: Page) -> None:
    """Each step from a phone to a 2560 px monitor: a screenshot, and nothing wider than the window."""
    project = re.search(r"/projects/(\d+)/", page.url).group(1)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for step in ("script", "scenes", "assets", "video"):
            page.goto(f"/projects/{project}/{step}")
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                .filter(e => { for (let p = e.parentElement; p; p = p.parentElement) {
                    if (['auto', 'hidden', 'scroll', 'clip'].includes(getComputedStyle(p).overflowX)) return false; }
                    return true; })
                .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().width) + '/' + e.scrollWidth)""")
            assert overflow <= 0, f"{step} at {width} px is {overflow} px too wide: {wide}"
            screenshot(page, f"width-{width}-{step}")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_script_to_downloaded_video_with_no_api_keys(page: Page, tmp_path):
    sign_up(page, "Journey Maker")
    screenshot(page, "01-signed-up")
    create_project(page, "Lighthouses")
    screenshot(page, "02-project")
    cut_and_edit_scenes(page)
    describe_scenes(page)
    make_images_and_audio(page, tmp_path)
    edit_after_images_and_voices(page)
    compile_and_download(page, tmp_path)
    edit_one_scene_and_compile_again(page)
    every_step_at_every_width(page)
