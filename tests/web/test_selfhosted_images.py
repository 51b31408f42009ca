"""Step 3 with the operator's own GPU server and a consistent look, on a real worker, against fake
AUTOMATIC1111, ComfyUI and OpenAI-compatible servers."""
from __future__ import annotations

import base64
import io
import re
import threading

import pytest
from PIL import Image

from app import ledger
from app.extensions import db
from app.models import Asset, Job, Project
from app.platform.media import get_storage
from tests.fakes import closed_port_url
from tests.fakes.a1111 import FakeA1111
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.openai_images import FakeOpenAIImages
from tests.web.test_assets_step import balance, entries, image_of, scene

FAKES = {"a1111": FakeA1111, "comfyui": FakeComfyUI, "openai": FakeOpenAIImages}
CHECKPOINT = {"a1111": "sd_xl_base_1.0", "comfyui": "sd_xl_base_1.0.safetensors", "openai": "sdxl"}


def use_server(app, backend: str, url: str, **config) -> None:
    app.config.update(SELFHOSTED_IMAGE_BACKEND=backend, SELFHOSTED_IMAGE_URL=url,
                      SELFHOSTED_IMAGE_MODEL=CHECKPOINT[backend], **config)


@pytest.fixture(params=list(FAKES))
def server(request, app):
    """Each back end's fake, configured as the instance's image server: (backend, fake)."""
    with FAKES[request.param]() as fake:
        use_server(app, request.param, fake.url)
        yield request.param, fake


def generate(client, pid, sid, model="selfhosted", description="Fishing boats at dawn"):
    return client.submit(f"/projects/{pid}/assets/scenes/{sid}/image",
                         {"description": description, "model": model}, htmx=True)


def image_job(app) -> Job:
    with app.app_context():
        job = db.session.scalars(db.select(Job).filter_by(kind="image").order_by(Job.id.desc())).first()
        db.session.expunge(job)
        return job


def prompts_sent(backend, fake) -> list[dict]:
    """What each generation asked for: prompt, seed and size, whatever the back end's format."""
    if backend == "comfyui":
        return [{"prompt": g["6"]["inputs"]["text"], "seed": g["3"]["inputs"]["seed"],
                 "size": (g["5"]["inputs"]["width"], g["5"]["inputs"]["height"])} for g in fake.prompts.values()]
    sent = [r.json() for r in fake.requests if r.method == "POST"]
    if backend == "openai":
        return [{"prompt": s["prompt"], "seed": s["seed"], "size": tuple(map(int, s["size"].split("x")))}
                for s in sent]
    return [{"prompt": s["prompt"], "seed": s["seed"], "size": (s["width"], s["height"])} for s in sent]


def set_style(client, pid, style="Ink and watercolour, muted teal palette", **fields):
    return client.submit(f"/projects/{pid}/look/settings", {"style": style, "reference_strength": "0.65",
                                                            **fields}, htmx=True)


def test_a_selfhosted_image_is_generated_charged_and_recorded(app, project_with_scenes, work, server):
    backend, fake = server
    client, pid, (first, _) = project_with_scenes()
    set_style(client, pid)
    start = balance(app, pid)
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "Your GPU server (self-hosted) · 1 credit" in page
    assert generate(client, pid, first).status_code == 200
    assert balance(app, pid) == start - 1
    work()
    job = image_job(app)
    assert job.state == "done", job.message
    [sent] = prompts_sent(backend, fake)
    assert sent["prompt"] == "Ink and watercolour, muted teal palette. Fishing boats at dawn"
    assert sent["seed"] == job.params["seed"]
    assert sent["size"][0] % 8 == 0 == sent["size"][1] % 8 and sent["size"][0] > sent["size"][1]
    assert image_of(app, first).size == (1920, 1080)
    with app.app_context():
        asset = db.session.get(Asset, scene(app, first).image_asset_id)
        assert (asset.provider, asset.model, asset.seed) == ("selfhosted", CHECKPOINT[backend], job.params["seed"])
        assert asset.meta["backend"] == backend and asset.meta["generated_size"] == list(sent["size"])
    assert entries(app) == [("charge", -1)]


def oom(fake):
    if isinstance(fake, FakeComfyUI):
        fake.will_run_out_of_memory()
    elif isinstance(fake, FakeA1111):
        fake.will_fail_out_of_memory()
    else:
        fake.will_fail(500, "CUDA out of memory. Tried to allocate 1.50 GiB")


def every_try(arrange):
    """An outcome the job layer retries (three back-offs): it has to happen four times to fail."""
    def arrange_all(fake):
        for _ in range(4):
            arrange(fake)
    return arrange_all


def busy(fake):
    if isinstance(fake, FakeComfyUI):
        fake.queue_remaining = 99
    elif isinstance(fake, FakeA1111):
        fake.will_be_busy()
    else:
        fake.will_fail(429, "Too many requests waiting for the GPU")


def stall(fake):
    if isinstance(fake, FakeComfyUI):
        fake.will_never_finish()
    else:
        fake.will_stall(3)


def bad_answer(fake):
    fake.will_answer(200, b"<html>proxy login</html>", "text/html")


@pytest.mark.parametrize("arrange, words, tries", [
    (oom, "ran out of GPU memory", 1),
    (every_try(busy), "its queue is full", 4),
    (every_try(stall), "did not finish the image within 1 seconds", 4),
    (bad_answer, "SELFHOSTED_IMAGE_BACKEND", 1),
])
def test_failures_reach_the_scene_with_a_refund_and_a_retry(app, project_with_scenes, work, server, arrange,
                                                            words, tries):
    backend, fake = server
    app.config["SELFHOSTED_IMAGE_TIMEOUT"] = 1
    client, pid, (first, _) = project_with_scenes()
    arrange(fake)
    generate(client, pid, first)
    work()
    job = image_job(app)
    assert job.state == "failed" and words in job.message and job.message.startswith("Your image server (")
    assert entries(app) == [("charge", -1), ("refund", 1)]
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "Image failed:" in page and words in page and "Retry" in page
    if backend != "comfyui":  # ComfyUI is asked about its queue, not sent the image, when it is full
        assert sum(r.method == "POST" for r in fake.requests) == tries


def test_an_unreachable_server_fails_with_its_own_message(app, project_with_scenes, work):
    use_server(app, "a1111", closed_port_url())
    client, pid, (first, _) = project_with_scenes()
    generate(client, pid, first)
    work()
    job = image_job(app)
    assert job.state == "failed" and "could not be reached" in job.message
    assert entries(app) == [("charge", -1), ("refund", 1)]
    assert "could not be reached" in client.get(f"/projects/{pid}/assets").get_data(as_text=True)


def test_retry_after_a_failure_charges_again_and_succeeds(app, project_with_scenes, work):
    with FakeA1111() as fake:
        use_server(app, "a1111", fake.url)
        client, pid, (first, _) = project_with_scenes()
        fake.will_fail_out_of_memory()
        generate(client, pid, first)
        work()
        client.submit(f"/projects/{pid}/assets/scenes/{first}/retry", {"kind": "image"}, htmx=True)
        work()
    assert image_job(app).state == "done" and scene(app, first).image_asset_id
    assert entries(app) == [("charge", -1), ("refund", 1), ("charge", -1)]


def test_a_free_server_writes_no_ledger_entry(app, project_with_scenes, work, operator):
    with FakeOpenAIImages() as fake:
        use_server(app, "openai", fake.url)
        admin = app.test_client()
        admin.login(operator)
        admin.submit("/operator/settings", {"signup_mode": "open", "max_workspaces": "1", "default_quota_mb": "0",
                                            "selfhosted_credits": "0",
                                            "selfhosted_plans": ["starter", "pro", "agency"]})
        client, pid, (first, second) = project_with_scenes()
        start = balance(app, pid)
        page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
        assert "Your GPU server (self-hosted) · 0 credits" in page
        generate(client, pid, first)
        work()
        with app.app_context():  # even an empty balance is enough
            project = db.session.get(Project, pid)
            ledger.charge(project.workspace_id, ledger.balance(project.workspace_id), "spend all", key="t:all")
        assert generate(client, pid, second).status_code == 200
        work()
    assert scene(app, first).image_asset_id and scene(app, second).image_asset_id
    assert entries(app) == [("charge", -start)]  # only the test's own spending


def test_plans_the_operator_left_out_are_refused_with_the_reason(app, project_with_scenes):
    with FakeA1111() as fake:
        use_server(app, "a1111", fake.url, SELFHOSTED_IMAGE_PLANS=["pro", "agency"])
        client, pid, (first, _) = project_with_scenes()
        response = generate(client, pid, first)
        page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
        settings = client.submit(f"/projects/{pid}/assets/settings", {"image_model": "selfhosted"}, htmx=True)
    assert response.status_code == 422
    assert "is not included in the starter plan: whoever runs Scriptreel chooses which plans may use it" \
        in response.get_data(as_text=True)
    assert settings.status_code == 422 and "is not included in the starter plan" in settings.get_data(as_text=True)
    assert "Your GPU server (self-hosted) · 1 credit · not in your plan" in page
    assert entries(app) == [] and fake.requests == []


def test_without_a_server_the_tier_is_shown_unavailable_with_the_reason(app, project_with_scenes):
    client, pid, (first, _) = project_with_scenes()
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert re.search(r'<option value="selfhosted"[^>]*disabled>Your GPU server \(self-hosted\) · 1 credit · unavailable',
                     page)
    assert "Your GPU server (self-hosted) is unavailable: no image server is configured (whoever runs Scriptreel " \
           "sets SELFHOSTED_IMAGE_BACKEND and SELFHOSTED_IMAGE_URL)." in page
    response = generate(client, pid, first)
    assert response.status_code == 422 and "no image server is configured" in response.get_data(as_text=True)
    app.config.update(SELFHOSTED_IMAGE_BACKEND="comfyui", SELFHOSTED_IMAGE_URL="http://gpu:8188")
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "needs a checkpoint file name in SELFHOSTED_IMAGE_MODEL" in page
    assert entries(app) == []


# ---- a consistent look ---------------------------------------------------------------------

def test_a_fixed_seed_is_sent_for_every_scene(app, project_with_scenes, work, server):
    backend, fake = server
    client, pid, ids = project_with_scenes()
    response = set_style(client, pid, fixed_seed="1", seed="")  # switched on: a seed is picked
    seed = int(re.search(r'name="seed" type="number"[^>]*value="(\d+)"', response.get_data(as_text=True)).group(1))
    assert set_style(client, pid, fixed_seed="1", seed="123456789").status_code == 200
    client.submit(f"/projects/{pid}/assets/settings", {"image_model": "selfhosted"}, htmx=True)
    client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    work()
    assert seed > 0 and [p["seed"] for p in prompts_sent(backend, fake)] == [123456789] * len(ids)
    with app.app_context():
        assert [db.session.get(Asset, scene(app, s).image_asset_id).seed for s in ids] == [123456789] * len(ids)
    set_style(client, pid)  # off again: each image its own seed
    client.submit(f"/projects/{pid}/assets/scenes/{ids[0]}/image", {"description": "x"}, htmx=True)
    work()
    assert prompts_sent(backend, fake)[-1]["seed"] != 123456789
    refused = set_style(client, pid, fixed_seed="1", seed="-4")
    assert refused.status_code == 422 and "The seed is a whole number" in refused.get_data(as_text=True)


def png_bytes(size=(900, 600), colour=(190, 40, 160)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def upload_reference(client, pid, data: bytes, name="hero.png"):
    return client.submit(f"/projects/{pid}/look/reference", {"image": (io.BytesIO(data), name)},
                         content_type="multipart/form-data", htmx=True)


def test_the_reference_image_is_checked_kept_and_sent_to_img2img(app, project_with_scenes, work):
    with FakeA1111() as fake:
        use_server(app, "a1111", fake.url)
        client, pid, (first, _) = project_with_scenes()
        refused = upload_reference(client, pid, b"<html><script>x</script></html>", "fake.png")
        assert refused.status_code == 422 and "not a PNG, JPEG or WebP" in refused.get_data(as_text=True)
        response = upload_reference(client, pid, png_bytes())
        assert response.status_code == 200 and "Used by Your GPU server (self-hosted) via AUTOMATIC1111" \
            in response.get_data(as_text=True)
        set_style(client, pid, reference_strength="0.4")
        generate(client, pid, first)
        work()
        sent = fake.last
    assert sent.path == "/sdapi/v1/img2img" and sent.json()["denoising_strength"] == 0.4
    init = Image.open(io.BytesIO(base64.b64decode(sent.json()["init_images"][0]))).convert("RGB")
    assert init.size == (1368, 768) and init.getpixel((684, 384)) == (190, 40, 160)
    with app.app_context():
        project = db.session.get(Project, pid)
        reference = db.session.get(Asset, project.settings["reference_asset_id"])
        assert (reference.kind, reference.meta["width"], reference.meta["original_name"]) == ("reference", 1920,
                                                                                              "hero.png")
        image = db.session.get(Asset, scene(app, first).image_asset_id)
        assert image.meta["reference_asset_id"] == reference.id and image.meta["reference_used"] is True
        key = reference.storage_key
    assert entries(app) == [("charge", -1)]  # uploading the reference is free
    upload_reference(client, pid, png_bytes(colour=(10, 200, 10)))  # replaced: the old file goes
    with app.app_context():
        assert db.session.scalar(db.select(Asset).filter_by(storage_key=key)) is None
        assert not get_storage().exists(key)
    client.submit(f"/projects/{pid}/look/reference/remove", htmx=True)
    with app.app_context():
        assert db.session.scalar(db.select(Asset).filter_by(kind="reference")) is None


def test_the_reference_is_unsupported_for_models_that_take_none(app, project_with_scenes, work):
    client, pid, (first, _) = project_with_scenes()
    response = upload_reference(client, pid, png_bytes())
    assert "Unsupported by the image models on this server" in response.get_data(as_text=True)
    generate(client, pid, first, model="draft")
    work()
    with app.app_context():
        assert db.session.get(Asset, scene(app, first).image_asset_id).meta["reference_asset_id"] is None


def test_comfyui_gets_the_reference_through_its_image_input_node(app, project_with_scenes, work):
    with FakeComfyUI() as fake:
        use_server(app, "comfyui", fake.url)
        client, pid, (first, _) = project_with_scenes()
        upload_reference(client, pid, png_bytes())
        generate(client, pid, first)
        work()
        [graph] = fake.prompts.values()
    assert graph["10"]["class_type"] == "LoadImage" and graph["10"]["inputs"]["image"] in fake.inputs
    assert image_job(app).state == "done"


# ---- regenerate all in one style ---------------------------------------------------------

def shown_total(page: str) -> int:
    button = re.search(r"hx-vals='\{\"total\": (\d+)\}'[^>]*\n?[^>]*hx-confirm=\"Regenerate all (\d+) images? with "
                       r"([^\"]+?) in the project's style, seed and reference for (\d+) credits?", page)
    assert button, "no regenerate-all confirmation on the page"
    assert button.group(1) == button.group(4)
    return int(button.group(1))


def test_regenerate_all_charges_the_shown_total_once(app, project_with_scenes, work):
    with FakeA1111() as fake:
        use_server(app, "a1111", fake.url)
        client, pid, ids = project_with_scenes()
        client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
        work()  # draft images first
        first_images = {s: scene(app, s).image_asset_id for s in ids}
        set_style(client, pid, style="Paper cut-out collage")
        grid = client.submit(f"/projects/{pid}/assets/settings", {"image_model": "selfhosted"}, htmx=True)
        total = shown_total(grid.get_data(as_text=True))
        assert total == len(ids) * 1 and "Regenerate all in this style (2 credits)" in grid.get_data(as_text=True)
        before = balance(app, pid)
        stale = client.submit(f"/projects/{pid}/assets/images/regenerate", {"total": total + 5}, htmx=True)
        assert stale.status_code == 422 and f"now costs {total} credits, not the {total + 5}" in stale.get_data(as_text=True)
        response = client.submit(f"/projects/{pid}/assets/images/regenerate", {"total": total}, htmx=True)
        assert response.status_code == 200 and "Queueing 2 new images" in response.get_data(as_text=True)
        again = client.submit(f"/projects/{pid}/assets/images/regenerate", {"total": total}, htmx=True)
        assert again.status_code == 422 and "still being made" in again.get_data(as_text=True)
        work()
        sent = [r.json() for r in fake.requests]
    assert balance(app, pid) == before - total
    assert [p["prompt"].split(". ")[0] for p in sent] == ["Paper cut-out collage"] * len(ids)
    for s in ids:
        current = scene(app, s).image_asset_id
        assert current != first_images[s]
        with app.app_context():
            assert db.session.get(Asset, current).provider == "selfhosted"
            assert db.session.get(Asset, first_images[s]) is not None  # kept as an earlier version
    with app.app_context():
        batches = db.session.scalars(db.select(Job).filter_by(kind="images_batch").order_by(Job.id)).all()
        assert [j.params.get("replace") for j in batches] == [None, True]


def test_regenerate_all_clicked_twice_at_once_starts_one_batch(app, make_member, work):
    email, _ = make_member("owner")
    clients = []
    for _ in range(2):
        c = app.test_client()
        c.login(email)
        c.fetch_csrf()
        clients.append(c)
    response = clients[0].submit("/projects", {"title": "Twice"})
    pid = int(re.search(r"/projects/(\d+)/", response.location).group(1))
    clients[0].submit(f"/projects/{pid}/script/segment", {"script": "One scene here.\n\nAnother scene there.",
                                                          "wpm": 150, "min_seconds": 1, "max_seconds": 4})
    total = shown_total(clients[0].get(f"/projects/{pid}/assets").get_data(as_text=True))
    start = balance(app, pid)
    barrier, codes = threading.Barrier(2), []

    def click(c):
        barrier.wait()
        codes.append(c.submit(f"/projects/{pid}/assets/images/regenerate", {"total": total},
                              htmx=True).status_code)
    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) in ([200, 409], [200, 422])
    work()
    assert balance(app, pid) == start - total
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Job).filter_by(kind="image")) == 2


@pytest.fixture
def signed_in_operator(app, operator):
    browser = app.test_client()
    browser.login(operator)
    return browser


def test_operator_settings_show_the_server_and_save_price_and_plans(app, signed_in_operator):
    client = signed_in_operator
    page = client.get("/operator/settings").get_data(as_text=True)
    assert "Not in use: no image server is configured" in page
    app.config.update(SELFHOSTED_IMAGE_BACKEND="a1111", SELFHOSTED_IMAGE_URL="http://gpu-box:7860",
                      SELFHOSTED_IMAGE_MODEL="sd_xl_base_1.0")
    page = client.get("/operator/settings").get_data(as_text=True)
    assert "AUTOMATIC1111 at <code>http://gpu-box:7860</code>, model <code>sd_xl_base_1.0</code>" in page
    assert "SELFHOSTED_IMAGE_PLANS=free,starter,pro,agency" in page
    bad = client.submit("/operator/settings", {"signup_mode": "open", "max_workspaces": "1",
                                               "default_quota_mb": "0", "selfhosted_credits": "-1"})
    assert bad.status_code == 422 and "Between 0 and 1,000 credits." in bad.get_data(as_text=True)
    client.submit("/operator/settings", {"signup_mode": "open", "max_workspaces": "1", "default_quota_mb": "0",
                                         "selfhosted_credits": "4", "selfhosted_plans": ["agency"]})
    page = client.get("/operator/settings").get_data(as_text=True)
    checked = {m.group(1) for m in re.finditer(r'name="selfhosted_plans" value="(\w+)" checked', page)}
    assert checked == {"agency"} and 'value="4"' in page



def test_flask_render_names_what_the_operator_has_to_set(app, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("A lighthouse at dusk. The keeper climbs the stairs.")
    result = app.test_cli_runner().invoke(args=["render", str(script), "-o", str(tmp_path / "out.mp4"),
                                                "--image-tier", "selfhosted"])
    assert result.exit_code != 0 and "no image server is configured" in result.output
    assert "SELFHOSTED_IMAGE_BACKEND" in result.output


def test_the_environment_is_checked_at_start(monkeypatch, tmp_path):
    from app.config import load_config
    monkeypatch.setenv("SELFHOSTED_IMAGE_BACKEND", " ComfyUI ")
    monkeypatch.setenv("SELFHOSTED_IMAGE_PLANS", "pro, agency")
    config = load_config(tmp_path)
    assert (config["SELFHOSTED_IMAGE_BACKEND"], config["SELFHOSTED_IMAGE_PLANS"]) == ("comfyui", ["pro", "agency"])
    for name, value, words in [("SELFHOSTED_IMAGE_BACKEND", "midjourney", "must be one of a1111, comfyui, openai"),
                               ("SELFHOSTED_IMAGE_TIMEOUT", "600", "between 5 and 270 seconds"),
                               ("SELFHOSTED_IMAGE_SIZE", "64", "between 256 and 2048 pixels"),
                               ("SELFHOSTED_IMAGE_PLANS", "pro,gold", "unknown plans: gold")]:
        with monkeypatch.context() as env:
            env.setenv(name, value)
            with pytest.raises(RuntimeError, match=words):
                load_config(tmp_path)
