"""``goaldrift view``: a local web app over a results store (see docs/viewer.md).

``app`` holds the Starlette app and its security; ``queries`` the lazy, paginated reads;
``diffview`` turns a stored diff into highlight tokens; ``static/`` is the front-end (plain files,
no build step, no CDN).
"""
