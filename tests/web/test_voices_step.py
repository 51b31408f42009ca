"""Step 3's voices on a real worker: Piper by default, voices added to VOICES_DIR, samples, speed and
pitch, recordings given word timings, and projects from before Piper keeping eSpeak NG."""
import importlib.util
import io
import json
import re
from pathlib import Path

import numpy as np
from alembic.migration import MigrationContext
from alembic.operations import Operations

from app import project_settings
from app.extensions import db
from app.models import Job, Project, Segment
from app.pipeline.probe import probe
from app.pipeline.video.audio import decode_pcm
from app.pipeline.voice import voice_provider
from app.pipeline.voice.piper import voice_files
from app.platform.media import get_storage
from tests.pipeline.speech import pitch_hz

JOE = "en_US-joe-medium"
ROOT = Path(__file__).resolve().parents[2]


def drop_voice(folder: Path) -> None:
    """An operator's voice: the bundled model under another name, with its own config."""
    folder.mkdir(parents=True, exist_ok=True)
    bundled = voice_files()[JOE]
    (folder / "en_GB-tester-low.onnx").symlink_to(bundled.model)
    config = json.loads(bundled.config.read_text())
    config.update(dataset="tester", audio={**config["audio"], "quality": "low"},
                  language={**config["language"], "code": "en_GB", "country_english": "Great Britain"})
    (folder / "en_GB-tester-low.onnx.json").write_text(json.dumps(config))


def voiceover(app, sid) -> tuple[np.ndarray, dict]:
    """A scene's voiceover as mono samples at 48 kHz, and its asset meta."""
    with app.app_context():
        audio = db.session.get(Segment, sid).audio
        samples = decode_pcm(get_storage().local_path(audio.storage_key), 10**9)
        return samples.mean(axis=1) / 32768, audio.meta


def settings_of(app, pid) -> dict:
    with app.app_context():
        return dict(db.session.get(Project, pid).settings)


def test_new_projects_use_piper_and_step_3_lists_its_voices(app, project_with_scenes, tmp_path):
    drop_voice(tmp_path / "voices")
    app.config["VOICES_DIR"] = str(tmp_path / "voices")
    client, pid, _ = project_with_scenes()
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert re.search(r'<option value="piper" selected>Piper neural voices \(offline\)</option>', page)
    assert '<option value="espeak" >eSpeak NG' in page  # still there for other languages
    rows = re.findall(r'<input type="radio" name="voice" value="([^"]+)"([^>]*)>\s*<span>([^<]+)'
                      r'<span class="muted small">· ([^<]+)</span>', page)
    assert [(v, "checked" in attrs, name.strip(), facts.strip()) for v, attrs, name, facts in rows] == [
        ("en_GB-tester-low", False, "Tester (English, Great Britain)", "en-GB · low quality"),
        (JOE, True, "Joe (English, United States)", "en-US · medium quality")]
    assert page.count("</svg> Sample</button>") == 2 and 'id="pitch"' in page


def test_a_voice_sample_is_made_once_then_plays(app, project_with_scenes, work, tmp_path):
    client, pid, _ = project_with_scenes()
    response = client.submit(f"/projects/{pid}/assets/voice-sample", {"engine": "piper", "voice": JOE}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Making the sample…" in body and 'hx-trigger="every 1s"' in body
    status_url = re.search(r'hx-get="([^"]+)"', body).group(1)
    assert "Making the sample…" in client.get(status_url).get_data(as_text=True)  # no worker yet
    work()
    player = client.get(status_url).get_data(as_text=True)
    audio_url = re.search(r'<audio src="([^"]+)" controls autoplay preload="metadata">', player).group(1)
    sample = client.get(audio_url)
    assert sample.status_code == 200 and sample.mimetype == "audio/flac"
    (tmp_path / "sample.flac").write_bytes(sample.data)
    info = probe(tmp_path / "sample.flac")
    assert (info.audio.sample_rate, info.audio.channels) == (48000, 2) and 2.0 < info.duration < 8.0

    again = client.submit(f"/projects/{pid}/assets/voice-sample", {"engine": "piper", "voice": JOE}, htmx=True)
    assert audio_url in again.get_data(as_text=True)  # cached: plays at once
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Job).filter_by(kind="voice_sample")) == 1

    client.submit(f"/projects/{pid}/assets/settings", {"pitch": 2}, htmx=True)
    higher = client.submit(f"/projects/{pid}/assets/voice-sample", {"engine": "piper", "voice": JOE}, htmx=True)
    assert "Making the sample…" in higher.get_data(as_text=True)  # another pitch, another sample
    refused = client.submit(f"/projects/{pid}/assets/voice-sample", {"engine": "piper", "voice": "nobody"}, htmx=True)
    assert refused.status_code == 422 and "Choose a voice from the list." in refused.get_data(as_text=True)
    assert client.get(audio_url.replace(audio_url.rsplit("/", 1)[1], "not-a-digest.flac")).status_code == 404


def test_speed_and_pitch_are_saved_and_the_voice_job_uses_them(app, project_with_scenes, work):
    client, pid, (first, _) = project_with_scenes()
    refused = client.submit(f"/projects/{pid}/assets/settings", {"pitch": 9}, htmx=True)
    assert refused.status_code == 422 and "Pitch goes from -4 to +4 semitones." in refused.get_data(as_text=True)
    takes = []
    for wpm, pitch in ((200, -3), (120, -3), (120, 3)):
        saved = client.submit(f"/projects/{pid}/assets/settings", {"wpm": wpm, "pitch": pitch}, htmx=True)
        assert saved.status_code == 200 and "Saved." in saved.get_data(as_text=True)
        assert {k: settings_of(app, pid)[k] for k in ("wpm", "pitch")} == {"wpm": wpm, "pitch": pitch}
        client.submit(f"/projects/{pid}/assets/scenes/{first}/voice", htmx=True)
        work()
        takes.append(voiceover(app, first))
    with app.app_context():
        jobs = db.session.scalars(db.select(Job).filter_by(kind="voice").order_by(Job.id)).all()
        assert [(j.state, j.params["provider"], j.params["rate"], j.params["pitch"]) for j in jobs] == [
            ("done", "piper", 200, -3), ("done", "piper", 120, -3), ("done", "piper", 120, 3)]
    (_, fast), (low, slow), (high, _) = takes
    assert {meta["timing_source"] for _, meta in takes} == {"engine"}

    def spoken(meta):  # from the first word's start to the last's, without the fixed pauses and silences
        return meta["words"][-1][1] - meta["words"][0][1]

    assert spoken(fast) < spoken(slow) * 0.8  # 200 words a minute against 120
    assert pitch_hz(high, 48000) > pitch_hz(low, 48000) * 1.15  # 6 semitones: 1.41 (a short scene measures 1.25-1.41)


def test_a_recording_gets_word_timings_aligned_to_its_text(app, project_with_scenes, work, tmp_path):
    client, pid, (first, _) = project_with_scenes()
    with app.app_context():
        text = db.session.get(Segment, first).text
    spoken = voice_provider("espeak").synthesize(text, "gmw/en-GB-x-rp", rate=150)  # another voice than the reference
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/audio/upload",
                             {"audio": (io.BytesIO(spoken.wav), "take.wav")},
                             content_type="multipart/form-data", htmx=True)
    assert response.status_code == 200
    work()
    _, meta = voiceover(app, first)
    assert meta["timing_source"] == "aligned"
    assert [w[0] for w in meta["words"]] == text.split()
    off = np.abs(np.array([w[1] for w in meta["words"]]) - [w.start for w in spoken.words])
    assert np.median(off) <= 0.08 and off.max() <= 0.3, off


def test_switching_to_espeak_lists_its_voices_with_one_sample_button(app, project_with_scenes):
    client, pid, _ = project_with_scenes()
    switched = client.submit(f"/projects/{pid}/assets/settings", {"voice_provider": "espeak"}, htmx=True)
    assert switched.headers.get("HX-Refresh") == "true"
    assert (settings_of(app, pid)["voice_provider"], settings_of(app, pid)["voice"]) == ("espeak", "gmw/en-US")
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "Voice (eSpeak NG)" in page and page.count("</svg> Sample</button>") == 1 and 'value="roa/fr"' in page
    assert client.submit(f"/projects/{pid}/assets/settings", {"voice": "roa/fr"}, htmx=True).status_code == 200
    assert client.submit(f"/projects/{pid}/assets/settings", {"voice": JOE}, htmx=True).status_code == 422
    assert settings_of(app, pid)["voice"] == "roa/fr"


def test_projects_from_before_piper_keep_espeak(app, owner):
    _, workspace_id = owner
    path = ROOT / "migrations" / "versions" / "0006_keep_espeak_voices.py"
    spec = importlib.util.spec_from_file_location("keep_espeak_voices", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with app.app_context():
        before = [{}, {"voice": "roa/fr", "wpm": 140}, {"voice_provider": "azure", "voice": "en-US-GuyNeural"}]
        projects = [Project(workspace_id=workspace_id, title=f"Old {i}", settings=s) for i, s in enumerate(before)]
        db.session.add_all(projects)
        db.session.commit()
        ids = [p.id for p in projects]
        with db.engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
            migration.upgrade()
        db.session.expire_all()
        after = [db.session.get(Project, i) for i in ids]
        assert [p.settings for p in after] == [
            {"voice_provider": "espeak", "voice": "gmw/en-US"},
            {"voice_provider": "espeak", "voice": "roa/fr", "wpm": 140},
            {"voice_provider": "azure", "voice": "en-US-GuyNeural"}]
        assert project_settings.get(Project(settings={}), "voice_provider") == "piper"  # what new projects get
