"""Prepare a scan: an owner and an editor with a project cut into scenes; write the editor's
session as a wapiti cookie file. Used by bench/security.sh; talks to 127.0.0.1 only."""
import json
import re
import sys

import httpx

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SCRIPT = "A lighthouse guides ships at night.\n\nThe keeper climbs the stairs at dusk to light the lamp."


def form(client: httpx.Client, page: str, url: str, **data) -> httpx.Response:
    token = TOKEN.search(client.get(page).text).group(1)
    return client.post(url, data={"csrf_token": token, **data})


def main(base: str, cookie_file: str) -> None:
    with httpx.Client(base_url=base) as owner:
        form(owner, "/signup", "/signup", name="Owner", email="owner@example.com",
             password="owner passphrase", confirm="owner passphrase")
        form(owner, "/workspace/", "/workspace/invites", role="editor")
        page = owner.get("/workspace/").text  # the new link is shown once, after the redirect
        link = re.search(r'id="invite-link" class="copyable" readonly value="[^"]*(/invite/[^"]+)"', page).group(1)
    with httpx.Client(base_url=base) as editor:
        token = link.rsplit("/", 1)[1]
        form(editor, f"/signup?invite={token}", f"/signup?invite={token}", name="Editor",
             email="editor@example.com", password="editor passphrase",
             confirm="editor passphrase", invite=token)
        response = form(editor, "/", "/projects", title="Scan target")
        project = re.search(r"/projects/(\d+)/", response.headers["location"]).group(1)
        form(editor, f"/projects/{project}/script", f"/projects/{project}/script/segment",
             script=SCRIPT, wpm="150", min_seconds="2", max_seconds="10")
        cookies = {"127.0.0.1": {"/": {c.name: {"value": c.value, "expires": None, "secure": False,
                                                "port": None, "version": 0}
                                       for c in editor.cookies.jar}}}
    with open(cookie_file, "w") as handle:
        json.dump(cookies, handle)
    print(f"editor session ready; project {project}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
