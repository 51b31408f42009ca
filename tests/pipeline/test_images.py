"""Image providers: the catalogue, the offline draft frame, and Stability AI against a fake of its REST API."""
from __future__ import annotations

import io
import pickle

import pytest
from PIL import Image

from app.pipeline.images import (
    MODELS,
    AuthenticationFailed,
    ContentRejected,
    DraftImageProvider,
    ImageRequest,
    InvalidRequest,
    OutOfVendorCredits,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
    StabilityImageProvider,
    UnknownModel,
    build_prompt,
    credit_cost,
    image_provider,
    models_for_tier,
    tier_allows,
)
from tests.fakes import closed_port_url
from tests.fakes.stability import LEFT, RIGHT, FakeStability

KEY = "sk-secret-test-key-123"
SIZES = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}


def request(model="draft", aspect="16:9", seed=42, prompt="Watercolour. A lighthouse on a cliff at dawn",
            negative="people, text") -> ImageRequest:
    return ImageRequest(prompt=prompt, size=SIZES[aspect], seed=seed, model=model, aspect_ratio=aspect,
                        negative_prompt=negative)


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def near(pixel, colour, tolerance=12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


# ---- catalogue ----------------------------------------------------------------------------

def test_catalogue_prices_and_tiers():
    assert credit_cost("draft") == 1
    assert credit_cost("ultra") > credit_cost("sd3.5-large") > credit_cost("sd3.5-flash") > credit_cost("draft")
    assert credit_cost("core", {"core": 9}) == 9 and credit_cost("ultra", {"core": 9}) == MODELS["ultra"].cost
    assert [m.id for m in models_for_tier("draft")] == ["draft"]
    assert {m.id for m in models_for_tier("standard")} == {"draft", "sd3.5-flash", "core", "sd3.5-medium"}
    assert tier_allows("advanced", "sd3.5-large") and not tier_allows("advanced", "ultra")
    assert len(models_for_tier("premium")) == len(MODELS) - 1 == 7
    assert not tier_allows("premium", "selfhosted")  # the operator picks its plans, not the tier order
    with pytest.raises(UnknownModel):
        credit_cost("dall-e")


def test_build_prompt_puts_style_first():
    assert build_prompt("Watercolour, soft light.", "A fox  in snow") == "Watercolour, soft light. A fox in snow"
    assert build_prompt("", "A fox") == "A fox"
    assert build_prompt("Noir", " ") == "Noir"


# ---- draft --------------------------------------------------------------------------------

@pytest.mark.parametrize("aspect", SIZES)
def test_draft_is_exact_size_and_deterministic(aspect):
    first = DraftImageProvider().generate(request(aspect=aspect))
    again = DraftImageProvider().generate(request(aspect=aspect))
    other_seed = DraftImageProvider().generate(request(aspect=aspect, seed=43))
    assert first.data == again.data
    assert first.data != other_seed.data
    picture = opened(first.data)
    assert picture.format == "PNG" and picture.size == SIZES[aspect] and picture.mode == "RGB"
    assert (first.mime, first.size, first.seed, first.model, first.provider) == (
        "image/png", SIZES[aspect], 42, "draft", "draft")
    assert first.prompt == request().prompt


def white_share(picture: Image.Image, box) -> float:
    """The share of pixels in ``box`` that are nearly white."""
    region = picture.crop(box).convert("L")
    return sum(region.histogram()[225:]) / (region.width * region.height)


@pytest.mark.parametrize("aspect", SIZES)
def test_draft_is_marked_as_draft_and_shows_the_text(aspect):
    frame = opened(DraftImageProvider().generate(request(aspect=aspect, prompt="")).data)
    unit = min(frame.size)
    # The white "DRAFT" pill sits at the top-left margin of every frame, whatever the palette.
    assert white_share(frame, (int(unit * 0.065), int(unit * 0.065), int(unit * 0.15), int(unit * 0.1))) > 0.5
    # The caption is white text over the dark lower band: more text, more white pixels there.
    w, h = frame.size
    band = (0, int(h * 0.6), w, h)
    caption = "A fox crossing a river " * 4
    captioned = opened(DraftImageProvider().generate(request(aspect=aspect, prompt=caption)).data)
    assert white_share(captioned, band) > white_share(frame, band) + 0.01


@pytest.mark.parametrize("prompt", [
    "", "x" * 5000, "A fox " * 400, "一位老人在雨中的竹林里慢慢行走，远处有一座古老的寺庙。",
    "رجل يسير في الصحراء عند غروب الشمس، وخلفه قافلة من الجمال.", "Ünïcødé — “quotes” & <tags> \t\n tabs",
])
def test_draft_renders_any_text(prompt):
    result = DraftImageProvider().generate(request(aspect="9:16", prompt=prompt))
    assert opened(result.data).size == (1080, 1920)


def test_draft_without_bundled_fonts_falls_back(tmp_path):
    bundled = DraftImageProvider().generate(request()).data
    fallback = DraftImageProvider(font_dir=tmp_path).generate(request()).data
    assert opened(fallback).size == (1920, 1080)
    assert fallback != bundled


# ---- Stability AI -------------------------------------------------------------------------

@pytest.fixture
def fake():
    with FakeStability(api_key=KEY) as server:
        yield server


def stability(fake, timeout=10.0) -> StabilityImageProvider:
    return image_provider("core", stability_api_key=KEY, stability_base_url=fake.url, timeout=timeout)


@pytest.mark.parametrize("model, endpoint, vendor_model, sends_negative", [
    ("ultra", "ultra", None, True),
    ("core", "core", None, True),
    ("sd3.5-large", "sd3", "sd3.5-large", True),
    ("sd3.5-large-turbo", "sd3", "sd3.5-large-turbo", False),
    ("sd3.5-medium", "sd3", "sd3.5-medium", True),
    ("sd3.5-flash", "sd3", "sd3.5-flash", False),
])
def test_stability_success_sends_documented_request(fake, model, endpoint, vendor_model, sends_negative):
    result = stability(fake).generate(request(model=model, seed=777))
    sent = fake.last
    assert (sent.method, sent.path) == ("POST", f"/v2beta/stable-image/generate/{endpoint}")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["accept"] == "image/*"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.form["prompt"] == request().prompt
    assert sent.form["aspect_ratio"] == "16:9" and sent.form["seed"] == "777" and sent.form["output_format"] == "png"
    assert sent.form.get("model") == vendor_model
    assert ("negative_prompt" in sent.form) == sends_negative
    assert set(sent.form_filenames.values()) == {None}  # plain form fields, not file uploads
    picture = opened(result.data)
    assert picture.size == (1920, 1080) and result.size == (1920, 1080) and result.mime == "image/png"
    assert near(picture.getpixel((100, 540)), LEFT) and near(picture.getpixel((1820, 540)), RIGHT)
    assert (result.seed, result.model, result.provider, result.finish_reason) == (777, model, "stability", "SUCCESS")


@pytest.mark.parametrize("aspect", SIZES)
def test_stability_image_is_fitted_to_the_output_size(fake, aspect):
    result = stability(fake).generate(request(model="sd3.5-medium", aspect=aspect))
    assert opened(result.data).size == SIZES[aspect]
    assert fake.last.form["aspect_ratio"] == aspect


def test_stability_reports_the_seed_the_vendor_used(fake):
    fake.will_succeed(seed=99)
    assert stability(fake).generate(request(model="core")).seed == 99


def test_content_filtered_200_is_a_failure(fake):
    fake.will_filter()
    with pytest.raises(ContentRejected) as caught:
        stability(fake).generate(request(model="core"))
    assert "filtered" in caught.value.user_message and not caught.value.retryable


@pytest.mark.parametrize("status, error, retryable, words", [
    (400, InvalidRequest, False, "invalid"),
    (401, AuthenticationFailed, False, "API key"),
    (402, OutOfVendorCredits, False, "run out of credits"),
    (403, ContentRejected, False, "flagged this description (content moderation)"),
    (413, InvalidRequest, False, "too large"),
    (422, InvalidRequest, False, "English"),
    (429, RateLimited, True, "150 requests per 10 seconds"),
    (500, ProviderUnavailable, True, "server error"),
    (503, ProviderUnavailable, True, "server error"),
])
def test_stability_errors_become_specific_messages(fake, status, error, retryable, words):
    fake.will_fail(status)
    with pytest.raises(error) as caught:
        stability(fake).generate(request(model="sd3.5-large"))
    assert words in caught.value.user_message
    assert caught.value.retryable is retryable and caught.value.status == status
    assert KEY not in f"{caught.value} {caught.value.detail!r} {caught.value!r}"


def test_unauthorised_key_is_reported_without_the_key():
    with FakeStability(api_key="the-right-key") as server:
        with pytest.raises(AuthenticationFailed) as caught:
            image_provider("ultra", stability_api_key=KEY, stability_base_url=server.url).generate(request("ultra"))
    assert KEY not in str(caught.value) and KEY not in caught.value.detail


def test_rate_limit_carries_the_retry_hint(fake):
    fake.will_fail(429, retry_after=7)
    with pytest.raises(RateLimited) as with_header:
        stability(fake).generate(request(model="core"))
    fake.will_fail(429)
    with pytest.raises(RateLimited) as without_header:
        stability(fake).generate(request(model="core"))
    assert with_header.value.retry_after == 7
    assert without_header.value.retry_after == 10  # the documented rate window


def test_422_shows_the_vendors_reason(fake):
    fake.will_fail(422, message="English is the only supported language for this service.")
    with pytest.raises(InvalidRequest) as caught:
        stability(fake).generate(request(model="core", prompt="Un renard dans la neige"))
    assert "English is the only supported language" in caught.value.user_message


def test_timeout_is_retryable(fake):
    fake.will_stall(5)
    with pytest.raises(ProviderTimeout) as caught:
        stability(fake, timeout=0.3).generate(request(model="core"))
    assert caught.value.retryable


def test_connection_refused_is_retryable():
    provider = image_provider("core", stability_api_key=KEY, stability_base_url=closed_port_url())
    with pytest.raises(ProviderUnreachable) as caught:
        provider.generate(request(model="core"))
    assert caught.value.retryable and KEY not in str(caught.value)


def test_missing_key_is_a_clear_error_and_draft_needs_none():
    with pytest.raises(ProviderNotConfigured) as caught:
        image_provider("ultra")
    assert "API key" in caught.value.user_message
    assert isinstance(image_provider("draft"), DraftImageProvider)
    with pytest.raises(UnknownModel):
        image_provider("midjourney")


def test_provider_never_shows_its_key():
    assert KEY not in repr(image_provider("core", stability_api_key=KEY))


def test_provider_errors_survive_pickling_with_their_fields():
    error = RateLimited("slow down", provider="Stability AI", status=429, retry_after=7.0, detail="x")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ProviderError) and copy.retryable
    assert (copy.user_message, copy.status, copy.retry_after, copy.provider) == ("slow down", 429, 7.0, "Stability AI")
