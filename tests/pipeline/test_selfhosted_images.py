"""The self-hosted image tier against fakes of AUTOMATIC1111, ComfyUI and an OpenAI-compatible server."""
from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from app.pipeline.images import (
    AuthenticationFailed,
    BadResponse,
    ImageRequest,
    InvalidRequest,
    OutOfGPUMemory,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    SelfHostedServer,
    ServerBusy,
    image_provider,
    server_problem,
)
from app.pipeline.images.base import generation_size
from app.pipeline.images.selfhosted import comfyui
from app.pipeline.images.selfhosted.server import WORKFLOWS
from tests.fakes import closed_port_url
from tests.fakes.a1111 import BOTTOM, TOP, FakeA1111
from tests.fakes.comfyui import LEFT, RIGHT, FakeComfyUI
from tests.fakes.openai_images import REST, TOP_LEFT, FakeOpenAIImages

SIZES = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
PROMPT = "Watercolour. A lighthouse on a cliff at dawn"


def request(aspect="16:9", seed=4242, reference: bytes | None = None, strength=0.55) -> ImageRequest:
    return ImageRequest(prompt=PROMPT, size=SIZES[aspect], seed=seed, model="selfhosted", aspect_ratio=aspect,
                        negative_prompt="text, watermark", reference=reference, reference_strength=strength)


def provider(backend: str, url: str, **settings):
    return image_provider("selfhosted", selfhosted=SelfHostedServer(backend, url, **settings))


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture.convert("RGB")


def near(pixel, colour, tolerance=12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def png(size=(640, 360), colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("aspect, multiple, side, expected", [
    ("16:9", 8, 1024, (1368, 768)), ("9:16", 8, 1024, (768, 1368)), ("1:1", 8, 1024, (1024, 1024)),
    ("16:9", 64, 1024, (1344, 768)), ("16:9", 8, 512, (680, 384)), ("9:16", 64, 512, (384, 704)),
])
def test_generation_size_keeps_the_aspect_on_the_grid(aspect, multiple, side, expected):
    width, height = generation_size(SIZES[aspect], side, multiple)
    assert (width, height) == expected and width % multiple == 0 == height % multiple
    assert abs(width / height - SIZES[aspect][0] / SIZES[aspect][1]) < 0.05


# ---- AUTOMATIC1111 ------------------------------------------------------------------------

def test_a1111_sends_the_documented_txt2img_request_and_records_provenance():
    with FakeA1111() as fake:
        result = provider("a1111", fake.url, model="sd_xl_base_1.0", steps=25, cfg_scale=6.5,
                          sampler="DPM++ 2M").generate(request(seed=987654))
        sent = fake.last
    assert (sent.method, sent.path) == ("POST", "/sdapi/v1/txt2img")
    body = sent.json()
    assert body["prompt"] == PROMPT and body["negative_prompt"] == "text, watermark"
    assert body["seed"] == 987654 and (body["width"], body["height"]) == (1368, 768)
    assert body["width"] % 8 == 0 == body["height"] % 8
    assert (body["steps"], body["cfg_scale"], body["sampler_name"]) == (25, 6.5, "DPM++ 2M")
    assert body["override_settings"] == {"sd_model_checkpoint": "sd_xl_base_1.0"}
    assert body["override_settings_restore_afterwards"] is False  # keep the checkpoint loaded
    picture = opened(result.data)
    assert picture.size == (1920, 1080) and result.size == (1920, 1080) and result.mime == "image/png"
    assert near(picture.getpixel((960, 100)), TOP) and near(picture.getpixel((960, 1000)), BOTTOM)
    assert (result.provider, result.seed, result.model) == ("selfhosted", 987654, "sd_xl_base_1.0")
    assert result.details == {"backend": "a1111", "generated_size": [1368, 768], "reference_used": False}


def test_a1111_without_a_model_uses_the_loaded_checkpoint_and_no_sampler():
    with FakeA1111(loaded="v1-5-pruned-emaonly") as fake:
        result = provider("a1111", fake.url, side=512).generate(request("9:16"))
        body = fake.last.json()
    assert "override_settings" not in body and "sampler_name" not in body
    assert (body["width"], body["height"]) == (384, 680)
    assert result.model == "v1-5-pruned-emaonly" and opened(result.data).size == (1080, 1920)


def test_a1111_reference_image_goes_to_img2img_at_the_generation_size():
    with FakeA1111() as fake:
        result = provider("a1111", fake.url).generate(request(reference=png((500, 500)), strength=0.4))
        sent = fake.last
    assert sent.path == "/sdapi/v1/img2img"
    body = sent.json()
    init = Image.open(io.BytesIO(base64.b64decode(body["init_images"][0])))
    assert init.format == "PNG" and init.size == (body["width"], body["height"]) == (1368, 768)
    assert near(init.convert("RGB").getpixel((600, 400)), (200, 30, 30))
    assert body["denoising_strength"] == 0.4 and body["seed"] == 4242
    assert result.details["reference_used"] is True


def test_a1111_api_auth_is_http_basic():
    with FakeA1111(auth=("scriptreel", "s3cret")) as fake:
        assert provider("a1111", fake.url, api_key="scriptreel:s3cret").generate(request()).seed == 4242
        with pytest.raises(AuthenticationFailed) as caught:
            provider("a1111", fake.url, api_key="scriptreel:wrong").generate(request())
    assert "SELFHOSTED_IMAGE_API_KEY" in caught.value.user_message and "wrong" not in str(caught.value)


def test_a1111_unknown_sampler_and_checkpoint_say_what_the_server_said():
    with FakeA1111() as fake:
        with pytest.raises(ProviderNotConfigured) as sampler:
            provider("a1111", fake.url, sampler="Heun++ 9M").generate(request())
        with pytest.raises(ProviderUnavailable) as checkpoint:
            provider("a1111", fake.url, model="no-such-model").generate(request())
    assert "Sampler not found" in sampler.value.user_message and "--api" in sampler.value.user_message
    assert "no-such-model" in checkpoint.value.user_message


# ---- OpenAI-compatible --------------------------------------------------------------------

@pytest.mark.parametrize("url_suffix", ["", "/v1"])
def test_openai_generations_request_and_b64_answer(url_suffix):
    with FakeOpenAIImages(api_key="sk-local") as fake:
        result = provider("openai", fake.url + url_suffix, api_key="sk-local", model="sdxl-turbo").generate(
            request("1:1", seed=31337))
        sent = fake.last
    assert (sent.method, sent.path) == ("POST", "/v1/images/generations")
    assert sent.headers["authorization"] == "Bearer sk-local"
    body = sent.json()
    assert body == {"prompt": PROMPT, "n": 1, "size": "1024x1024", "response_format": "b64_json", "seed": 31337,
                    "model": "sdxl-turbo"}
    picture = opened(result.data)
    assert picture.size == (1080, 1080)
    assert near(picture.getpixel((100, 100)), TOP_LEFT) and near(picture.getpixel((900, 900)), REST)
    assert (result.seed, result.model, result.details["generated_size"]) == (31337, "sdxl-turbo", [1024, 1024])


def test_openai_size_is_a_multiple_of_64_in_the_projects_aspect():
    with FakeOpenAIImages() as fake:
        provider("openai", fake.url).generate(request("16:9"))
        assert fake.last.json()["size"] == "1344x768"
        provider("openai", fake.url).generate(request("9:16"))
        assert fake.last.json()["size"] == "768x1344"
        assert "model" not in fake.last.json()  # the server's own model when none is set


def test_openai_reference_image_goes_to_the_edits_endpoint_as_a_png_file():
    with FakeOpenAIImages() as fake:
        result = provider("openai", fake.url).generate(request(reference=png()))
        sent = fake.last
    assert sent.path == "/v1/images/edits" and sent.headers["content-type"].startswith("multipart/form-data")
    assert sent.form_filenames["image"] == "reference.png"
    assert Image.open(io.BytesIO(sent.files["image"])).size == (1344, 768)
    assert sent.form["prompt"] == PROMPT and sent.form["size"] == "1344x768" and sent.form["seed"] == "4242"
    assert result.details["reference_used"] and opened(result.data).size == (1920, 1080)


def test_openai_url_answers_are_downloaded():
    with FakeOpenAIImages() as fake:
        fake.ignore_response_format = True
        result = provider("openai", fake.url).generate(request())
        assert [r.path for r in fake.requests] == ["/v1/images/generations", "/files/img-1.png"]
    assert near(opened(result.data).getpixel((100, 100)), TOP_LEFT)


# ---- ComfyUI ------------------------------------------------------------------------------

def comfy(fake, **settings):
    return provider("comfyui", fake.url, **{"model": "sd_xl_base_1.0.safetensors", **settings})


def test_comfyui_fills_the_workflow_submits_polls_and_fetches():
    with FakeComfyUI(polls=3) as fake:
        result = comfy(fake, steps=20, cfg_scale=5.5).generate(request(seed=2024))
        submitted = next(r for r in fake.requests if r.path == "/prompt" and r.method == "POST").json()
        paths = [r.path.split("?")[0] for r in fake.requests]
    graph = submitted["prompt"]
    assert submitted["client_id"]
    assert graph["6"]["inputs"]["text"] == PROMPT and graph["7"]["inputs"]["text"] == "text, watermark"
    assert graph["3"]["inputs"]["seed"] == 2024 and graph["3"]["inputs"]["steps"] == 20
    assert graph["3"]["inputs"]["cfg"] == 5.5
    assert (graph["5"]["inputs"]["width"], graph["5"]["inputs"]["height"]) == (1368, 768)
    assert graph["4"]["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
    assert paths.count("/history/" + paths[2].rsplit("/", 1)[-1]) == 3  # polled until it ran
    assert paths[0] == "/prompt" and paths[-1] == "/view"
    picture = opened(result.data)
    assert picture.size == (1920, 1080)
    assert near(picture.getpixel((100, 540)), LEFT) and near(picture.getpixel((1820, 540)), RIGHT)
    assert (result.seed, result.model) == (2024, "sd_xl_base_1.0.safetensors")


def test_comfyui_reference_image_is_uploaded_and_named_in_the_image_input_node():
    with FakeComfyUI() as fake:
        result = comfy(fake).generate(request(reference=png(), strength=0.7))
        graph = next(r for r in fake.requests if r.path == "/prompt" and r.method == "POST").json()["prompt"]
        upload = next(r for r in fake.requests if r.path == "/upload/image")
        uploaded = dict(fake.inputs)
    name = graph["10"]["inputs"]["image"]
    assert name.startswith("scriptreel/reference-") and name in uploaded
    assert upload.form["type"] == "input" and upload.form["overwrite"] == "true"
    assert Image.open(io.BytesIO(uploaded[name])).size == (1368, 768)
    assert graph["3"]["inputs"]["denoise"] == 0.7 and graph["3"]["inputs"]["latent_image"] == ["11", 0]
    assert result.details["reference_used"] and opened(result.data).size == (1920, 1080)


def test_comfyui_full_queue_is_busy_before_submitting():
    with FakeComfyUI() as fake:
        fake.queue_remaining = 8
        with pytest.raises(ServerBusy) as caught:
            comfy(fake, max_queue=8).generate(request())
        assert not any(r.method == "POST" for r in fake.requests)
    assert "queue is full" in caught.value.user_message and caught.value.retryable


def test_comfyui_that_never_finishes_times_out_and_leaves_the_queue():
    with FakeComfyUI() as fake:
        fake.will_never_finish()
        with pytest.raises(ProviderTimeout) as caught:
            comfy(fake, timeout=1.2).generate(request())
        prompt_id = next(iter(fake.prompts))
        assert fake.deleted == [prompt_id]
    assert "within 1.2 seconds" in caught.value.user_message


def test_comfyui_interrupted_prompt_is_retryable():
    with FakeComfyUI() as fake:
        fake.will_be_interrupted()
        with pytest.raises(ProviderUnavailable) as caught:
            comfy(fake).generate(request())
    assert "interrupted" in caught.value.user_message and caught.value.retryable


def test_comfyui_validation_errors_name_the_node():
    with FakeComfyUI() as fake:
        with pytest.raises(InvalidRequest) as caught:
            comfy(fake, model="missing.safetensors").generate(request())
    assert "CheckpointLoaderSimple" in caught.value.user_message and "missing.safetensors" in caught.value.user_message


@pytest.mark.parametrize("graph, words", [
    ("not json", "can't be read"),
    ({"nodes": [], "links": []}, "API format"),
    ({"1": {"class_type": "SaveImage", "inputs": {"text": "{{prompt}} {{seed}} {{colour}}"}}}, "unknown placeholders: colour"),
    ({"1": {"class_type": "SaveImage", "inputs": {"text": "{{prompt}}"}}}, "{{height}}, {{seed}}, {{width}}"),
])
def test_comfyui_workflow_problems_make_it_unavailable(tmp_path, graph, words):
    path = tmp_path / "workflow.json"
    path.write_text(graph if isinstance(graph, str) else json.dumps(graph))
    server = SelfHostedServer("comfyui", "http://gpu:8188", model="x.safetensors", workflow=path)
    assert words in server_problem(server)
    with pytest.raises(ProviderNotConfigured):
        image_provider("selfhosted", selfhosted=server)


def test_comfyui_shipped_workflows_need_a_checkpoint_name_and_take_a_reference():
    assert "SELFHOSTED_IMAGE_MODEL" in server_problem(SelfHostedServer("comfyui", "http://gpu:8188"))
    ready = SelfHostedServer("comfyui", "http://gpu:8188", model="x.safetensors")
    assert server_problem(ready) is None and image_provider("selfhosted", selfhosted=ready).accepts_reference
    without = SelfHostedServer("comfyui", "http://gpu:8188", model="x.safetensors",
                               reference_workflow=WORKFLOWS / "text_to_image.json")
    assert not image_provider("selfhosted", selfhosted=without).accepts_reference


def test_comfyui_placeholders_keep_their_types():
    graph = {"1": {"inputs": {"seed": "{{seed}}", "text": "{{prompt}}, masterpiece", "n": 3}}}
    assert comfyui.fill(graph, {"seed": 7, "prompt": "A fox"}) == {
        "1": {"inputs": {"seed": 7, "text": "A fox, masterpiece", "n": 3}}}


# ---- every back end: the failure outcomes -------------------------------------------------

FAKES = {"a1111": FakeA1111, "comfyui": FakeComfyUI, "openai": FakeOpenAIImages}
SETTINGS = {"a1111": {}, "comfyui": {"model": "sd_xl_base_1.0.safetensors"}, "openai": {}}


def out_of_memory(fake):
    if isinstance(fake, FakeA1111):
        fake.will_fail_out_of_memory()
    elif isinstance(fake, FakeComfyUI):
        fake.will_run_out_of_memory()
    else:
        fake.will_fail(500, "CUDA out of memory. Tried to allocate 1.50 GiB")


def queue_full(fake):
    if isinstance(fake, FakeA1111):
        fake.will_be_busy()
    elif isinstance(fake, FakeComfyUI):
        fake.queue_remaining = 50
    else:
        fake.will_fail(429, "The server is busy: too many requests in the queue")


def stall(fake):
    if isinstance(fake, FakeComfyUI):
        fake.will_never_finish()
    else:
        fake.will_stall(5)


@pytest.mark.parametrize("backend", FAKES)
@pytest.mark.parametrize("arrange, error, words, retryable", [
    (out_of_memory, OutOfGPUMemory, "ran out of GPU memory", False),
    (queue_full, ServerBusy, "its queue is full", True),
    (stall, ProviderTimeout, "did not finish the image within 1 seconds", True),
])
def test_failure_outcomes_have_their_own_messages(backend, arrange, error, words, retryable):
    with FAKES[backend]() as fake:
        arrange(fake)
        with pytest.raises(error) as caught:
            provider(backend, fake.url, timeout=1, **SETTINGS[backend]).generate(request())
    assert words in caught.value.user_message and caught.value.retryable is retryable
    assert caught.value.user_message.startswith("Your image server (")


@pytest.mark.parametrize("backend", FAKES)
def test_unreachable_server_says_so(backend):
    with pytest.raises(ProviderUnreachable) as caught:
        provider(backend, closed_port_url(), **SETTINGS[backend]).generate(request())
    assert "could not be reached" in caught.value.user_message and "SELFHOSTED_IMAGE_URL" in caught.value.user_message
    assert caught.value.retryable


@pytest.mark.parametrize("backend", ["a1111", "openai"])
@pytest.mark.parametrize("body, content_type", [
    (b"<html>Welcome to nginx</html>", "text/html"), (b'{"images": []}', "application/json"),
    (b'{"data": [{"b64_json": "@@@"}], "images": ["@@@"]}', "application/json"),
])
def test_bad_answers_are_bad_responses(backend, body, content_type):
    with FAKES[backend]() as fake:
        fake.will_answer(200, body, content_type)
        with pytest.raises(BadResponse) as caught:
            provider(backend, fake.url).generate(request())
    assert "SELFHOSTED_IMAGE_BACKEND" in caught.value.user_message


def test_a_missing_api_is_a_setup_problem():
    with FakeComfyUI() as fake:  # an A1111 client pointed at ComfyUI: no /sdapi there
        with pytest.raises(ProviderNotConfigured) as caught:
            provider("a1111", fake.url).generate(request())
    assert "/sdapi/v1/txt2img" in caught.value.user_message and "--api" in caught.value.user_message


def test_no_server_configured_is_a_clear_problem():
    assert "SELFHOSTED_IMAGE_BACKEND" in server_problem(SelfHostedServer("", ""))
    assert "http://" in server_problem(SelfHostedServer("a1111", "gpu-box:7860"))
    with pytest.raises(ProviderNotConfigured) as caught:
        image_provider("selfhosted")
    assert "no image server is configured" in caught.value.user_message


def test_the_api_key_never_shows():
    server = SelfHostedServer("openai", "http://gpu:8000", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(server) and "sk-very-secret" not in repr(image_provider(
        "selfhosted", selfhosted=server).__dict__)
