"""A fake ComfyUI server, built from its HTTP API (server.py) and execution formats.

POST /prompt {"prompt": <API-format workflow>, "client_id"} validates the graph and answers
{"prompt_id", "number", "node_errors"} or 400 {"error": {...}, "node_errors": {...}}; GET /history/{id}
is {} until the prompt ends, then {id: {"prompt", "outputs", "status": {"status_str", "completed",
"messages"}}}; GET /view serves what a Save Image node wrote; POST /upload/image puts a file in the
input folder; GET /prompt tells how many prompts wait; POST /queue {"delete": [...]} drops pending ones.

    with FakeComfyUI() as fake:
        fake.will_run_out_of_memory()
"""
from __future__ import annotations

import io
import json
import uuid
from collections import deque
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from . import FakeServer, Recorded, Reply

CHECKPOINTS = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
LEFT, RIGHT = (220, 90, 20), (20, 120, 220)  # the success image: orange left half, blue right half
_json = {"content-type": "application/json"}
# The node types the shipped workflows use, with the inputs ComfyUI validates and their types.
NODES = {
    "CheckpointLoaderSimple": {"ckpt_name": str},
    "EmptyLatentImage": {"width": int, "height": int, "batch_size": int},
    "CLIPTextEncode": {"text": str},
    "KSampler": {"seed": int, "steps": int, "cfg": (int, float), "sampler_name": str, "scheduler": str,
                 "denoise": (int, float)},
    "VAEDecode": {},
    "VAEEncode": {},
    "LoadImage": {"image": str},
    "SaveImage": {"filename_prefix": str},
}


class FakeComfyUI(FakeServer):
    """Runs every valid prompt "instantly" after ``polls`` history checks, unless told otherwise."""

    def __init__(self, polls: int = 2):
        super().__init__()
        self.polls = polls
        self.queue_remaining = 0
        self.inputs: dict[str, bytes] = {}  # the input folder: "subfolder/name" -> bytes
        self.outputs: dict[str, bytes] = {}  # the output folder
        self.deleted: list[str] = []
        self.prompts: dict[str, dict] = {}  # prompt_id -> the submitted graph
        self._pending: dict[str, list] = {}  # prompt_id -> [history checks left, outcome]
        self._history: dict[str, dict] = {}
        self._script: deque = deque()
        self._raw: deque = deque()

    def will_run_out_of_memory(self) -> None:
        self._script.append("oom")

    def will_never_finish(self) -> None:
        self._script.append("stuck")

    def will_be_interrupted(self) -> None:
        self._script.append("interrupted")

    def will_answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        """The next request, whatever it is, gets this reply (a proxy in the way, a wrong server)."""
        self._raw.append(Reply(status, body, {"content-type": content_type}))

    def answer(self, req: Recorded) -> Reply:
        if self._raw:
            return self._raw.popleft()
        url = urlsplit(req.path)
        route = (req.method, url.path)
        if route == ("GET", "/prompt"):
            return _reply({"exec_info": {"queue_remaining": self.queue_remaining}})
        if route == ("POST", "/prompt"):
            return self._queue_prompt(req)
        if req.method == "GET" and url.path.startswith("/history/"):
            return _reply(self._history_of(url.path[len("/history/"):]))
        if route == ("GET", "/view"):
            return self._view(parse_qs(url.query))
        if route == ("POST", "/upload/image"):
            return self._upload(req)
        if route == ("POST", "/queue"):
            self.deleted += req.json().get("delete", [])
            return Reply(200)
        return Reply(404, b"404: Not Found", {"content-type": "text/plain"})

    def _queue_prompt(self, req: Recorded) -> Reply:
        try:
            body = req.json()
        except ValueError:
            return Reply(400, b"", {})
        graph = body.get("prompt")
        if not isinstance(graph, dict):
            return _reply({"error": "no prompt", "node_errors": []}, 400)
        error, node_errors = self._validate(graph)
        if error:
            return _reply({"error": error, "node_errors": node_errors}, 400)
        prompt_id = str(uuid.uuid4())
        self.prompts[prompt_id] = graph
        self._pending[prompt_id] = [self.polls, self._script.popleft() if self._script else "success"]
        return _reply({"prompt_id": prompt_id, "number": len(self.prompts), "node_errors": {}})

    def _validate(self, graph: dict) -> tuple[dict | None, dict]:
        """ComfyUI's validate_prompt: known nodes, an output node, typed inputs, values in their lists."""
        for node_id, node in graph.items():
            if node.get("class_type") not in NODES:
                return ({"type": "invalid_prompt", "message": f"Cannot execute because node "
                         f"{node.get('class_type')} does not exist.", "details": f"Node ID '#{node_id}'",
                         "extra_info": {}}, {})
        if not any(node["class_type"] == "SaveImage" for node in graph.values()):
            return ({"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                     "extra_info": {}}, {})
        node_errors = {}
        for node_id, node in graph.items():
            errors = []
            for name, kind in NODES[node["class_type"]].items():
                value = node["inputs"].get(name)
                if not isinstance(value, kind) or isinstance(value, bool):
                    errors.append({"type": "invalid_input_type", "message": "Failed to convert an input value to "
                                   f"a {getattr(kind, '__name__', 'FLOAT')} value",
                                   "details": f"{name}, {value!r}", "extra_info": {"input_name": name}})
            inputs = node["inputs"]
            if node["class_type"] == "CheckpointLoaderSimple" and inputs.get("ckpt_name") not in CHECKPOINTS:
                errors.append({"type": "value_not_in_list", "message": "Value not in list",
                               "details": f"ckpt_name: '{inputs.get('ckpt_name')}' not in {CHECKPOINTS}",
                               "extra_info": {"input_name": "ckpt_name"}})
            if node["class_type"] == "LoadImage" and inputs.get("image") not in self.inputs:
                errors.append({"type": "custom_validation_failed", "message": "Custom validation failed for node",
                               "details": f"image - Invalid image file: {inputs.get('image')}", "extra_info": {}})
            if node["class_type"] == "EmptyLatentImage":
                for side in ("width", "height"):
                    if isinstance(inputs.get(side), int) and (inputs[side] % 8 or inputs[side] < 16):
                        errors.append({"type": "value_not_valid", "message": "Value is not a multiple of 8",
                                       "details": f"{side}: {inputs[side]}", "extra_info": {}})
            if errors:
                node_errors[node_id] = {"errors": errors, "dependent_outputs": ["9"], "class_type": node["class_type"]}
        if node_errors:
            return ({"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                     "details": "", "extra_info": {}}, node_errors)
        return None, {}

    def _history_of(self, prompt_id: str) -> dict:
        if prompt_id in self._pending and prompt_id not in self.deleted:
            checks = self._pending[prompt_id]
            checks[0] -= 1
            if checks[0] <= 0 and checks[1] != "stuck":
                self._history[prompt_id] = self._run(prompt_id, checks[1])
                del self._pending[prompt_id]
        return {prompt_id: self._history[prompt_id]} if prompt_id in self._history else {}

    def _run(self, prompt_id: str, outcome: str) -> dict:
        graph = self.prompts[prompt_id]
        start = ["execution_start", {"prompt_id": prompt_id, "timestamp": 1}]
        entry = {"prompt": [len(self.prompts), prompt_id, graph, {}, ["9"]], "outputs": {}, "meta": {}}
        if outcome == "oom":
            entry["status"] = {"status_str": "error", "completed": False, "messages": [start, ["execution_error", {
                "prompt_id": prompt_id, "node_id": "3", "node_type": "KSampler", "executed": ["4", "6", "7"],
                "exception_message": "Allocation on device 0 would exceed allowed memory. (out of memory)\n"
                                     "Currently allocated     : 7.12 GiB\nRequested               : 2.00 GiB",
                "exception_type": "torch.OutOfMemoryError", "traceback": ["..."], "current_inputs": {},
                "current_outputs": {}}]]}
            return entry
        if outcome == "interrupted":
            entry["status"] = {"status_str": "error", "completed": False, "messages": [start, [
                "execution_interrupted", {"prompt_id": prompt_id, "node_id": "3", "node_type": "KSampler",
                                          "executed": []}]]}
            return entry
        save_id, save = next((i, n) for i, n in graph.items() if n["class_type"] == "SaveImage")
        filename = f"{save['inputs']['filename_prefix']}_{len(self.outputs) + 1:05d}_.png"
        self.outputs[filename] = _png(self._output_size(graph))
        entry["outputs"] = {save_id: {"images": [{"filename": filename, "subfolder": "", "type": "output"}]}}
        entry["status"] = {"status_str": "success", "completed": True, "messages": [
            start, ["execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": 2}],
            ["execution_success", {"prompt_id": prompt_id, "timestamp": 3}]]}
        return entry

    def _output_size(self, graph: dict) -> tuple[int, int]:
        """The empty latent's size, or that of the loaded image for image-to-image."""
        for node in graph.values():
            if node["class_type"] == "EmptyLatentImage":
                return node["inputs"]["width"], node["inputs"]["height"]
        loaded = next(n for n in graph.values() if n["class_type"] == "LoadImage")
        return Image.open(io.BytesIO(self.inputs[loaded["inputs"]["image"]])).size

    def _view(self, query: dict) -> Reply:
        filename, kind = query.get("filename", [""])[0], query.get("type", ["output"])[0]
        folder = self.outputs if kind == "output" else self.inputs
        if filename not in folder or query.get("subfolder", [""])[0]:
            return Reply(404)
        return Reply(200, folder[filename], {"content-type": "image/png",
                                             "content-disposition": f'filename="{filename}"'})

    def _upload(self, req: Recorded) -> Reply:
        if "image" not in req.files or not req.form_filenames.get("image"):
            return Reply(400)
        subfolder, name = req.form.get("subfolder", ""), req.form_filenames["image"]
        self.inputs[f"{subfolder}/{name}" if subfolder else name] = req.files["image"]
        return _reply({"name": name, "subfolder": subfolder, "type": req.form.get("type", "input")})


def _reply(body, status: int = 200) -> Reply:
    return Reply(status, json.dumps(body).encode(), _json)


def _png(size: tuple[int, int]) -> bytes:
    picture = Image.new("RGB", size, LEFT)
    picture.paste(RIGHT, (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
