"""Compiles: what to check first, what a finished compile consists of, and removing one."""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from .. import project_settings
from ..extensions import db
from ..platform.media import get_storage
from ..models import Asset, Job, Project, Segment
from ..pipeline.video.burn import undrawable
from ..production import is_draft

OUTPUT_KINDS = ("video", "srt", "vtt", "chapters", "thumbnail")


@dataclass
class Problem:
    message: str
    segment_id: int | None = None
    blocking: bool = False
    fixed_in: str = "assets"  # where the "Fix it" link leads: the scene's card in step 3, "captions" or "drafts"
    voice: str | None = None  # "missing" or "outdated" narration: asked about before compiling


def preflight(project: Project) -> list[Problem]:
    """What to fix (or know) before compiling, from the database alone."""
    problems, burned = [], project_settings.get(project, "burn_captions")
    if not project.segments:
        return [Problem("The project has no scenes yet: cut the script first.", blocking=True)]
    for n, s in enumerate(project.segments, start=1):
        if s.image is None:
            problems.append(Problem(f"Scene {n} has no image.", s.id, blocking=True))
        if s.audio is None:
            problems.append(Problem(f"Scene {n} has no voiceover; it will be silent.", s.id, voice="missing"))
        elif s.voice_outdated:
            said, written = where_they_differ(s.voice_text, s.text)
            problems.append(Problem(
                f"Scene {n}'s voiceover is out of date: it says “{said}” where the text now says "
                f"“{written}”.", s.id, voice="outdated"))
        elif s.audio.meta.get("duration", 0) > s.seconds + 0.05:
            problems.append(Problem(
                f"Scene {n}'s voiceover ({s.audio.meta['duration']:.1f} s) is longer than the "
                f"scene ({s.seconds:.1f} s) and would be cut off: fit the scene to its audio.", s.id))
        if burned and (missing := undrawable(s.text, project_settings.get(project, "caption_font"))):
            problems.append(Problem(
                f"Scene {n} has characters the burned-in caption font can't draw ({missing[:12]}); they "
                "would show as empty boxes. Switch burned-in captions off (the SRT and VTT files show them "
                "fine) or reword the scene.", s.id, fixed_in="captions"))
    if drafts := draft_scenes(project):
        problems.append(drafts_warning(project, drafts))
    return problems


def draft_scenes(project: Project) -> list[tuple[int, Segment]]:
    """(number, scene) of every scene that still shows a draft frame (a storyboard placeholder)."""
    return [(n, s) for n, s in enumerate(project.segments, start=1) if is_draft(s)]


def drafts_warning(project: Project, drafts: list[tuple[int, Segment]]) -> Problem:
    """Say that the video would show placeholders, how many, and whether they keep their label."""
    count = len(drafts)
    numbers = ", ".join(str(n) for n, _ in drafts[:12]) + (", …" if count > 12 else "")
    label = ("with their DRAFT label (you chose to keep it)" if project_settings.get(project, "keep_draft_badge")
             else "without their DRAFT label")
    return Problem(f"{count} scene{'s' if count != 1 else ''} of {len(project.segments)} still show a draft frame, "
                   f"a storyboard placeholder rather than a final image (scene{'s' if count != 1 else ''} {numbers}); "
                   f"the video shows {'them' if count != 1 else 'it'} {label}. Generate or upload final images "
                   "in Images & audio.", drafts[0][1].id, fixed_in="drafts")


def where_they_differ(said: str | None, written: str, context: int = 4) -> tuple[str, str]:
    """The stretch where two versions of a narration part ways, with a few words around it."""
    a, b = (said or "").split(), written.split()
    ops = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not ops:
        return " ".join(a), " ".join(b)
    first, last = ops[0], ops[-1]

    def excerpt(words: list[str], start: int, end: int) -> str:
        lo, hi = max(0, start - context), min(len(words), end + context)
        text = " ".join(words[lo:hi]) or "(nothing)"
        return ("…" if lo else "") + text + ("…" if hi < len(words) else "")
    return excerpt(a, first[1], last[2]), excerpt(b, first[3], last[4])


def voice_question(problems: list[Problem]) -> str | None:
    """What to ask before compiling with scenes whose narration is missing or out of date."""
    voice = [p for p in problems if p.voice]
    if not voice:
        return None
    return (f"{len(voice)} scene{'s' if len(voice) != 1 else ''} would be compiled without "
            "current narration (listed above). Compile anyway?")


def download_name(project: Project, extension: str) -> str:
    """A file name from the project title: letters, digits and dashes only."""
    ascii_title = unicodedata.normalize("NFKD", project.title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_title).strip("-").lower()[:80] or "scriptreel-video"
    return f"{slug}.{extension}"


def scenes_summary(rendered: int, reused: int) -> str:
    """What a compile did, in scenes: "3 scenes re-rendered, 9 reused from the last video"."""
    def scenes(n: int) -> str:
        return f"{n} scene{'' if n == 1 else 's'}"
    if not reused:
        return f"{scenes(rendered)} rendered"
    if not rendered:
        return f"{'all ' if reused > 1 else ''}{scenes(reused)} reused from the last video"
    return f"{scenes(rendered)} re-rendered, {reused} reused from the last video"


def finished_compiles(project: Project) -> list[Job]:
    return list(db.session.scalars(db.select(Job).filter_by(
        project_id=project.id, kind="compile", state="done").order_by(Job.id.desc())))


def outputs(job: Job) -> dict[str, Asset]:
    ids = {kind: job.result.get(kind) for kind in OUTPUT_KINDS}
    assets = {a.id: a for a in db.session.scalars(db.select(Asset).filter(
        Asset.id.in_([i for i in ids.values() if i])))}
    return {kind: assets[i] for kind, i in ids.items() if i in assets}


def delete_compile(project: Project, job: Job) -> None:
    for asset in outputs(job).values():
        if project.thumbnail_asset_id == asset.id:
            project.thumbnail_asset_id = None
        get_storage().delete(asset.storage_key)
        db.session.delete(asset)
    db.session.delete(job)
