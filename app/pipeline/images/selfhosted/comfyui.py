"""ComfyUI: the operator's workflow (API format) with {{placeholders}} filled in, submitted to
POST /prompt, polled through GET /history/{prompt_id}, and its image fetched from GET /view.

A reference image is uploaded with POST /upload/image and named in the reference workflow's
image-input node. Placeholders: {{prompt}}, {{negative_prompt}}, {{seed}}, {{width}}, {{height}},
{{steps}}, {{cfg}}, {{model}}, {{denoise}} and {{reference_image}}. A string that is exactly one
placeholder becomes the value itself (a number for seed, sizes, steps, cfg and denoise).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import uuid
from pathlib import Path

import httpx

from ..base import (
    ImageRequest,
    ImageResult,
    InvalidRequest,
    ProgressCallback,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    generation_size,
)
from .server import (
    OUT_OF_MEMORY,
    SHOWN_DETAIL,
    SelfHostedServer,
    ServerSession,
    busy,
    finished,
    out_of_memory,
    reference_png,
    timed_out,
)

SIZE_MULTIPLE = 8
POLL_SECONDS = 0.5
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
KNOWN = {"prompt", "negative_prompt", "seed", "width", "height", "steps", "cfg", "model", "denoise",
         "reference_image"}
REQUIRED = {"prompt", "seed", "width", "height"}
REQUIRED_WITH_REFERENCE = {"prompt", "seed", "reference_image"}  # its size is the uploaded image's
UPLOAD_SUBFOLDER = "scriptreel"


def said(response: httpx.Response) -> str:
    """POST /prompt's refusal: {"error": {"message", "details"}, "node_errors": {id: {"errors": [...]}}}."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    parts = ([error.get("message", ""), error.get("details", "")] if isinstance(error, dict) else [str(error or "")])
    for node_id, node in (body.get("node_errors") or {}).items():
        for problem in node.get("errors", []):
            parts.append(f"{node.get('class_type', node_id)}: {problem.get('message', '')} {problem.get('details', '')}")
    return "; ".join(p.strip() for p in parts if p and p.strip())


def workflow_problem(path: Path | None, server: SelfHostedServer, required: set[str]) -> str | None:
    """Why the workflow file can't be used, as a clause for "unavailable: …"; None when it can."""
    try:
        graph = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, TypeError, ValueError) as exc:
        return f"the ComfyUI workflow {path} can't be read ({exc.__class__.__name__})"
    if not isinstance(graph, dict) or not graph or not all(
            isinstance(node, dict) and "class_type" in node and isinstance(node.get("inputs"), dict)
            for node in graph.values()):
        return (f"{path} is not a ComfyUI workflow in API format (export it with “Save (API Format)” "
                "after enabling the dev mode options)")
    used = set(PLACEHOLDER.findall(json.dumps(graph)))
    if unknown := used - KNOWN:
        return f"the ComfyUI workflow {path} has unknown placeholders: {', '.join(sorted(unknown))}"
    if missing := required - used:
        return f"the ComfyUI workflow {path} lacks the placeholders {', '.join('{{%s}}' % m for m in sorted(missing))}"
    if "model" in used and not server.model:
        return "the ComfyUI workflow needs a checkpoint file name in SELFHOSTED_IMAGE_MODEL"
    return None


def fill(node, values: dict):
    """The workflow with every placeholder replaced by its value."""
    if isinstance(node, dict):
        return {key: fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [fill(value, values) for value in node]
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), node)
    return node


class ComfyUIImageProvider:
    """Runs the operator's workflow (checked by selfhosted_provider) for one image and waits for it
    within the server's timeout."""

    name = "selfhosted"

    def __init__(self, server: SelfHostedServer):
        self.server = server
        self.accepts_reference = bool(server.reference_workflow) and workflow_problem(
            server.reference_workflow, server, REQUIRED_WITH_REFERENCE) is None

    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None) -> ImageResult:
        """Queue the filled-in workflow, wait for its history entry, and fetch the saved image."""
        server = self.server
        width, height = generation_size(request.size, server.side, SIZE_MULTIPLE)
        deadline = time.monotonic() + server.timeout
        with ServerSession(server, said=said, setup_hint="Check that SELFHOSTED_IMAGE_URL is ComfyUI's address.") as session:
            waiting = session.json(session.request("GET", "/prompt")).get("exec_info")
            queued = waiting.get("queue_remaining") if isinstance(waiting, dict) else None
            if server.max_queue and isinstance(queued, int) and queued >= server.max_queue:
                raise busy(server, None, None, f"{queued} prompts queued")
            values = {"prompt": request.prompt, "negative_prompt": request.negative_prompt, "seed": request.seed,
                      "width": width, "height": height, "steps": server.steps, "cfg": server.cfg_scale,
                      "model": server.model, "denoise": request.reference_strength, "reference_image": ""}
            workflow = server.workflow
            if request.reference is not None:
                workflow = server.reference_workflow
                values["reference_image"] = self._upload(session, reference_png(request, (width, height), server))
            graph = fill(json.loads(Path(workflow).read_text(encoding="utf-8")), values)
            answer = session.json(session.request("POST", "/prompt", json={"prompt": graph,
                                                                           "client_id": uuid.uuid4().hex}))
            prompt_id = answer.get("prompt_id")
            if not isinstance(prompt_id, str):
                raise session.bad_response("no prompt_id")
            if on_progress:
                on_progress(0.1, f"Queued on your GPU server ({server.label})")
            entry = self._wait(session, prompt_id, deadline, on_progress)
            filename = _output_image(entry)
            if filename is None:
                raise session.bad_response("a finished workflow that saved no image (it needs a Save Image node)")
            image = session.request("GET", "/view", params=filename)
        return finished(request, image.content, server, seed=request.seed, model=server.model, size=(width, height))

    def _upload(self, session: ServerSession, png: bytes) -> str:
        """Put the reference in ComfyUI's input folder (named by content, so re-uploads overwrite)."""
        name = f"reference-{hashlib.sha256(png).hexdigest()[:16]}.png"
        stored = session.json(session.request(
            "POST", "/upload/image", files={"image": (name, png, "image/png")},
            data={"type": "input", "subfolder": UPLOAD_SUBFOLDER, "overwrite": "true"}))
        if not isinstance(stored.get("name"), str):
            raise session.bad_response("no name for the uploaded reference image")
        return f"{stored['subfolder']}/{stored['name']}" if stored.get("subfolder") else stored["name"]

    def _wait(self, session: ServerSession, prompt_id: str, deadline: float,
              on_progress: ProgressCallback | None) -> dict:
        """The prompt's history entry once it has run (ComfyUI adds it when the prompt ends)."""
        server = self.server
        while True:
            entry = session.json(session.request("GET", f"/history/{prompt_id}")).get(prompt_id)
            if isinstance(entry, dict):
                break
            if time.monotonic() > deadline:
                # Leave the GPU to others: a prompt we stopped waiting for should not run later.
                with contextlib.suppress(ProviderError):
                    session.request("POST", "/queue", json={"delete": [prompt_id]})
                raise ProviderTimeout(timed_out(server), provider=server.name, detail=prompt_id)
            if on_progress:
                on_progress(0.2, f"Generating on your GPU server ({server.label})")
            time.sleep(POLL_SECONDS)
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            raise _execution_failure(server, status.get("messages") or [])
        return entry


def _execution_failure(server: SelfHostedServer, messages: list):
    """The ProviderError for a prompt that ended with status "error"."""
    events = {m[0]: m[1] for m in messages if isinstance(m, list) and len(m) == 2 and isinstance(m[1], dict)}
    if "execution_interrupted" in events:
        return ProviderUnavailable(f"{server.name} stopped this image (someone interrupted it there). "
                                   "The scene will be retried shortly.", provider=server.name)
    error = events.get("execution_error", {})
    detail = f"{error.get('exception_type', '')}: {error.get('exception_message', '')}".strip(": ")
    if OUT_OF_MEMORY.search(detail):
        return out_of_memory(server, detail)
    node = error.get("node_type") or "a node"
    return InvalidRequest(f"{server.name} stopped with an error in {node}: {detail[:SHOWN_DETAIL] or 'no details'}. "
                          "Whoever runs Scriptreel may need to fix the workflow.", provider=server.name, detail=detail)


def _output_image(entry: dict) -> dict | None:
    """filename/subfolder/type of the first image a Save Image node wrote ("output", not a preview)."""
    images = [image for output in (entry.get("outputs") or {}).values() if isinstance(output, dict)
              for image in output.get("images", []) if isinstance(image, dict)]
    saved = [i for i in images if i.get("type") == "output"] or images
    if not saved or not isinstance(saved[0].get("filename"), str):
        return None
    return {"filename": saved[0]["filename"], "subfolder": saved[0].get("subfolder", ""),
            "type": saved[0].get("type", "output")}
