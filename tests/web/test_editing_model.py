"""The editing model as users drive it: random sequences of edits to a cut whose scenes already have
images, voiceovers and versions, with the project's invariants checked after every step.

Everything goes through the pages' own endpoints and a real worker; the checks read what users get:
the scenes as the editor shows them, the files in storage, the ledger.
"""
from __future__ import annotations

import re

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app import ledger, retention
from app.extensions import db
from app.platform.media import get_storage
from app.models import Asset, CreditEntry, Project, spoken_words
from app.script import editing, history

SCRIPT = """# Harbours

The harbour wakes before dawn. Fishing boats slip out past the breakwater. Gulls follow them into the grey light.

By noon the market is loud. Traders sell the morning catch. Ice melts on the stone floor.

# Lighthouses

A lighthouse guides ships through the dark. Its lamp turns slowly above the rocks. Keepers once polished the lens every morning.

Storms test every tower. Waves climb the walls in winter. The light keeps turning all night.
"""


def state(app, pid) -> list[dict]:
    """Everything a scene owns, as the editor would restore it."""
    with app.app_context():
        return history.snapshot(db.session.get(Project, pid))


def furnish(client, pid, work):
    """Images for every scene (one with a second version), a description each, voiceovers."""
    client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    work()
    client.submit(f"/projects/{pid}/assets/voice/all", htmx=True)
    work()
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    first = int(re.search(r'id="asset-(\d+)"', page).group(1))
    client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                  {"description": "Boats leaving a harbour at dawn", "model": "draft"}, htmx=True)
    work()


def check_invariants(app, pid):
    with app.app_context():
        project = db.session.get(Project, pid)
        storage = get_storage()
        # A scene's voiceover either says its words or is visibly out of date.
        for scene in project.segments:
            if scene.audio is not None and spoken_words(scene.audio.prompt) != spoken_words(scene.text):
                assert scene.voice_outdated, f"scene {scene.position + 1} has a silently stale voiceover"
        # Every file something points at exists; every file nothing points at is gone.
        keep = retention.referenced(project)
        assets = {a.id: a for a in db.session.scalars(db.select(Asset).filter_by(project_id=pid))}
        for asset_id in keep:
            assert asset_id in assets and storage.exists(assets[asset_id].storage_key), asset_id
        prefix = f"ws/{project.workspace_id}/projects/{pid}/"
        on_disk = {k for k in storage.list_keys(prefix) if "/images/" in k or "/audio/" in k}
        assert on_disk == {a.storage_key for a in assets.values() if a.kind in ("image", "audio")}
        assert set(assets) <= keep
        # The balance is the ledger's sum.
        entries = db.session.scalars(db.select(CreditEntry.delta).filter_by(
            workspace_id=project.workspace_id)).all()
        assert ledger.balance(project.workspace_id) == sum(entries)


class EditingMachine(RuleBasedStateMachine):
    """Drives step 1 (and a re-cut) on a fully furnished project."""

    app = client = pid = work = None

    @initialize()
    def start(self):
        self.original = state(self.app, self.pid)
        self.base_position = self.position()

    def position(self) -> int:
        with self.app.app_context():
            return db.session.get(Project, self.pid).history_position

    @property
    def depth(self) -> int:
        """Edits of this run that undo can still reach."""
        return self.position() - self.base_position

    def scenes(self) -> list[dict]:
        return state(self.app, self.pid)

    def post(self, path: str, data: dict | None = None):
        response = self.client.submit(f"/projects/{self.pid}/script/{path}", data or {}, htmx=True)
        assert response.status_code in (200, 422), response.get_data(as_text=True)[:500]
        return response

    @rule(data=st.data())
    def merge(self, data):
        scenes = self.scenes()
        if len(scenes) < 2:
            return
        index = data.draw(st.integers(0, len(scenes) - 2))
        first, second = scenes[index], scenes[index + 1]
        (self.post(f"scenes/{first['id']}/merge"))
        merged = self.scenes()[index]
        with self.app.app_context():
            voice = db.session.get(Asset, merged["audio_asset_id"]) if merged["audio_asset_id"] else None
        if first["audio_asset_id"] and second["audio_asset_id"] and not _stale(first) and not _stale(second):
            # both voiceovers joined: the merged scene's narration is whole and current
            assert voice is not None and spoken_words(voice.prompt) == spoken_words(merged["text"])

    @rule(data=st.data())
    def split(self, data):
        scenes = self.scenes()
        index = data.draw(st.integers(0, len(scenes) - 1))
        cuts = editing.sentence_offsets(scenes[index]["text"])
        if not cuts:
            return
        offset = data.draw(st.sampled_from(cuts))
        (self.post(f"scenes/{scenes[index]['id']}/split", {"offset": offset}))
        after = self.scenes()
        assert after[index + 1]["image_asset_id"] or not scenes[index]["image_asset_id"]

    @rule(data=st.data(), direction=st.sampled_from(["earlier", "later"]))
    def move_boundary(self, data, direction):
        scenes = self.scenes()
        if len(scenes) < 2:
            return
        index = data.draw(st.integers(0, len(scenes) - 2))
        (self.post(f"scenes/{scenes[index]['id']}/boundary", {"direction": direction}))

    @rule(data=st.data())
    def move(self, data):
        scenes = self.scenes()
        if len(scenes) < 2:
            return
        index = data.draw(st.integers(0, len(scenes) - 1))
        to = data.draw(st.integers(0, len(scenes) - 1).filter(lambda t: t != index))
        self.post(f"scenes/{scenes[index]['id']}/move", {"to": to})
        after = self.scenes()
        assert after[to]["id"] == scenes[index]["id"]
        assert {s["id"]: s["audio_asset_id"] for s in after} == {s["id"]: s["audio_asset_id"] for s in scenes}

    @rule(data=st.data())
    def delete(self, data):
        scenes = self.scenes()
        index = data.draw(st.integers(0, len(scenes) - 1))
        (self.post(f"scenes/{scenes[index]['id']}/delete"))

    @rule(data=st.data(), words=st.sampled_from(["Then the tide turned.", "Nobody saw it coming.",
                                                  "The end."]))
    def edit_text(self, data, words):
        scenes = self.scenes()
        index = data.draw(st.integers(0, len(scenes) - 1))
        scene = scenes[index]
        (self.post(f"scenes/{scene['id']}/text", {"text": f"{scene['text']} {words}"}))
        edited = self.scenes()[index]
        if edited["audio_asset_id"]:
            assert _stale(edited), "an edited scene's voiceover must show as out of date"
            page = self.client.get(f"/projects/{self.pid}/assets").get_data(as_text=True)
            assert f'id="asset-{scene["id"]}"' in page and "Voiceover out of date" in page

    @rule()
    def recut(self):
        response = self.client.submit(f"/projects/{self.pid}/script/segment",
                                      {"script": SCRIPT, "wpm": 160, "min_seconds": 2, "max_seconds": 9})
        assert response.status_code == 303

    @precondition(lambda self: self.depth > 0)
    @rule()
    def undo_then_redo_is_identity(self):
        before = self.scenes()
        self.post("undo")
        self.post("redo")
        assert self.scenes() == before

    @precondition(lambda self: self.depth > 0)
    @rule()
    def undo(self):
        self.post("undo")

    @invariant()
    def project_is_coherent(self):
        check_invariants(self.app, self.pid)

    def teardown(self):
        while self.depth > 0:
            self.post("undo")
        assert self.scenes() == self.original, "undoing everything must restore the project exactly"


def _stale(scene: dict) -> bool:
    return spoken_words(scene["voice_text"]) != spoken_words(scene["text"])


def test_random_edit_sequences_keep_the_project_coherent(app, project_with_scenes, work):
    client, pid, _ids = project_with_scenes(SCRIPT)
    client.submit(f"/projects/{pid}/script/segment",
                  {"script": SCRIPT, "wpm": 160, "min_seconds": 2, "max_seconds": 9})
    furnish(client, pid, work)
    base = state(app, pid)
    assert all(s["image_asset_id"] and s["audio_asset_id"] for s in base)
    check_invariants(app, pid)

    class Machine(EditingMachine):
        pass
    Machine.app, Machine.client, Machine.pid, Machine.work = app, client, pid, work
    test = Machine.TestCase
    # No shrinking: each step is a real request and a failing run is already short to read.
    test.settings = settings(max_examples=12, stateful_step_count=15, deadline=None, database=None,
                             phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    test().runTest()
    # each example ended by undoing everything: the furnished project is intact
    assert state(app, pid) == base
