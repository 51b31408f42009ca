"""htmx response helpers shared by the step pages."""
from flask import make_response, render_template

CONFLICT_MESSAGE = ("This was changed somewhere else (another tab or a colleague) at the same "
                    "moment, so your change was not applied. Reload to see the newest version, "
                    "then apply yours again.")


def replace_target(template: str, selector: str, **context):
    """Answer a poll with a bigger fragment: swap it into ``selector`` instead of the poller.

    Used once a batch or compile ends, so counts, buttons and players refresh together.
    """
    response = make_response(render_template(template, **context))
    response.headers.update({"HX-Retarget": selector, "HX-Reswap": "outerHTML"})
    return response


def notice_fragment(template: str, code: int, **context):
    """An error for an htmx request shows in the page's notice area, not in place of the target."""
    response = make_response(render_template(template, **context), code)
    response.headers.update({"HX-Retarget": "#notices", "HX-Reswap": "innerHTML"})
    return response
