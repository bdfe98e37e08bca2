"""The division table for the picker's script, and how a stored code is shown on pages and in PDFs."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from flask_babel import gettext as _

from .. import access
from . import children, full_name, is_valid, version

regions_bp = Blueprint("regions", __name__, url_prefix="/regions")

# Public data that changes only with a new release: the browser may keep it for a day (private:
# the route needs a signed-in user, so no shared cache should hold it).
CACHE_SECONDS = 24 * 3600


@regions_bp.route("/children")
@access.signed_in
def children_of():
    """The divisions directly under ``?parent=<code>``, or the provinces without it; 404 for a
    code not in the table."""
    parent = request.args.get("parent") or None
    if parent is not None and not is_valid(parent):
        abort(404)
    response = jsonify({"parent": parent, "version": version(),
                        "children": [{"code": d.code, "name": d.name} for d in children(parent)]})
    response.set_etag(f"{version()}-{parent or 'root'}")
    response.cache_control.private = True
    response.cache_control.max_age = CACHE_SECONDS
    return response.make_conditional(request)


@regions_bp.app_template_filter("origin_place")
def origin_place(code: str | None) -> str | None:
    """"云南省 昆明市 五华区 (530102)"; a code the table does not know is shown as it is, with a note.
    Place names are never translated."""
    if not code:
        return None
    name = full_name(code)
    if name is None:
        return _("%(code)s (not in the current table of administrative divisions)", code=code)
    return f"{name} ({code})"
