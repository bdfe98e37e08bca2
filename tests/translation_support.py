"""Scanners for tests/test_translation_completeness.py: message extraction, text left outside
``_()`` in templates (Jinja's lexer + an HTML parser) and in Python (``ast``), and the allow-list of
text deliberately left untranslated (each entry with its reason)."""
from __future__ import annotations

import ast
import functools
import os
import re
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from jinja2 import Environment

from .test_i18n import ROOT

ROOT_PATH = Path(ROOT)
TEMPLATES = ROOT_PATH / "templates"
PACKAGE = ROOT_PATH / "victimcare"

# Every name the source may call to translate, with the argument positions pybabel extracts.
GETTEXT_NAMES = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "pgettext",
                 "lazy_pgettext", "npgettext"}
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2),
            "lazy_pgettext": ((1, "c"), 2)}

LETTER = re.compile(r"[^\W\d_]")  # any script: Latin, CJK, ...
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
MARK = "\ue000"  # stands for a Jinja tag in a template's HTML

# -- the allow-list: text that is deliberately the same in every language ------------------------
ALLOWED = {
    # The language switch names each language in itself, so a reader of either finds theirs.
    "English": "language switch: each language is named in itself",
    "中文": "language switch: each language is named in itself",
    "KB": "unit symbol, written the same in Chinese",
}
# Whole files whose text is deliberately in one language, or is data rather than interface text.
ALLOWED_FILES = {
    # An official letter to the public security organ: always Chinese, whatever the screen's language.
    "templates/pdf/residence_application.html": "official Chinese letter (落户申请), never translated",
    "victimcare/demo.py": "fictional Chinese demo data (organisations, people, places)",
    "victimcare/attachments/demo.py": "fictional Chinese demo documents",
    "victimcare/names/surnames.py": "surname readings: characters matched in names, not interface text",
}
# The operator's commands (click) run outside any request, so outside any user's language: English.
CLI_CALLS = {"echo", "secho", "progressbar", "option", "argument", "command", "group", "confirm", "prompt",
             "ClickException", "UsageError", "BadParameter", "Abort"}
# Python constants that hold data, not interface text.
ALLOWED_NAMES = {
    # Recorded as the legal basis of an internal referral: a stored disclosure record quoting the
    # Chinese plan, shown as recorded (like a value typed by a user), never re-worded per language.
    ("victimcare/referrals/service.py", "_DEFAULT_PREFIX"): "stored legal-basis record text",
    ("victimcare/referrals/service.py", "DEFAULT_LEGAL_BASIS"): "stored legal-basis record text",
    ("victimcare/reports/statistics.py", "PROVINCE_NAMES"): "place names (GB/T 2260), not translated",
}
_ALLOWED_WORDS = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ALLOWED)) + r")(?!\w)")


def is_text(value: str) -> bool:
    """Has letters once Jinja tags and allowed words are taken out."""
    return bool(LETTER.search(_ALLOWED_WORDS.sub(" ", value.replace(MARK, " "))))


# == messages the source marks ======================================================================
def _python_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if ".venv" not in p.parts)


def template_files():
    return sorted(TEMPLATES.rglob("*.html"))


def rel_path(path: Path) -> str:
    return path.relative_to(ROOT_PATH).as_posix()


def gettext_aliases() -> set[str]:
    """Names the Python source binds to a gettext function (``from flask_babel import gettext as _``)."""
    names = set()
    for module in python_modules().values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("flask_babel", "gettext", "babel.support"):
                names |= {a.asname or a.name for a in node.names if "gettext" in a.name}
    return names


@functools.lru_cache(maxsize=None)  # two tests read it; extraction takes about a second
def extract_messages() -> dict:
    cfg = ROOT_PATH / "babel.cfg"
    with cfg.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(cfg))
    tops = {pattern.split("/")[0] for pattern, _method in method_map}

    def walk_into(dirpath: str) -> bool:  # as pybabel --ignore-dirs='.*' (keeps templates/_macros)
        parts = os.path.relpath(dirpath, ROOT).split(os.sep)
        return parts[0] in tops and not any(part.startswith(".") for part in parts)

    found: dict = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS, directory_filter=walk_into):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), (isinstance(message, tuple), []))[1].append(f"{filename}:{lineno}")
    return found


# == templates: no text outside _() ==================================================================
# Attributes a user reads or hears (screen readers): their values are text too.
VISIBLE_ATTRIBUTES = {"placeholder", "title", "alt", "aria-label", "aria-description", "aria-roledescription",
                      "label", "aria-valuetext"}
BUTTON_INPUTS = {"submit", "button", "reset"}
_ENV = Environment(extensions=["jinja2.ext.do"])


def template_markup(source: str) -> str:
    """The template's HTML with every Jinja tag replaced by MARK (lines kept), and the content of
    ``{% block style %}`` (CSS put into the base layout's <style>) left out."""
    out: list[str] = []
    line = 1
    in_css = False
    tokens = list(_ENV.lex(source))
    for i, (lineno, kind, value) in enumerate(tokens):
        if kind == "block_begin":
            names = [v for _l, k, v in tokens[i + 1:i + 6] if k == "name"]
            if names[:2] == ["block", "style"]:
                in_css = True
            elif names[:1] == ["endblock"]:
                in_css = False
        if kind != "data":
            if not out or out[-1] != MARK:
                out.append(MARK)
            continue
        if lineno > line:
            out.append("\n" * (lineno - line))
        out.append("" if in_css else value)
        line = lineno + value.count("\n")
    return "".join(out)


def template_strings(source: str):
    """(line, literal) for string literals inside Jinja tags that look like prose and are not
    the message of _()/gettext()/ngettext(): e.g. ``{{ field(f, placeholder="Search") }}``, or a
    value given to a message (``_("Shown as %(mask)s", mask="hidden")``)."""
    depth_in_gettext = []  # paren depth at which each open gettext call started
    depth = 0
    previous = None
    for lineno, kind, value in _ENV.lex(source):
        if kind == "whitespace":
            continue
        if kind == "operator" and value == "(":
            depth += 1
            if previous and previous[1] == "name" and previous[2] in GETTEXT_NAMES:
                depth_in_gettext.append(depth)
        elif kind == "operator" and value == ")":
            if depth_in_gettext and depth_in_gettext[-1] == depth:
                depth_in_gettext.pop()
            depth -= 1
        elif kind == "string" and _looks_like_prose(value[1:-1]):
            is_keyword_value = previous and previous[2] == "="  # _("%(mask)s", mask="（已隐去）")
            if not (depth_in_gettext and depth_in_gettext[-1] == depth and not is_keyword_value):
                yield lineno, value[1:-1]
        previous = (lineno, kind, value)


def _css_classes() -> set[str]:
    css = (PACKAGE / "static" / "css" / "app.css").read_text(encoding="utf-8")
    return set(re.findall(r"\.([a-z][\w-]*)", css))


CSS_CLASSES = _css_classes()


def _looks_like_prose(value: str) -> bool:
    """Words a person reads, not CSS classes ("button primary"), an endpoint, a state code or a format."""
    if CJK.search(value):
        return True
    if not is_text(value) or not (" " in value.strip() or value[:1].isupper()):
        return False
    if set(value.split()) <= CSS_CLASSES or re.fullmatch(r"(?:[A-Z]+[a-z]+){2,}", value):
        return False  # CSS classes, a CamelCase name (field.type == "DateField")
    return not re.fullmatch(r"[%\w\-:./ ]*%[A-Za-z][%\w\-:./ ]*", value)  # strftime formats


class _TextCollector(HTMLParser):
    """Text nodes and visible attribute values of an HTML page, with their line numbers."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._skip = 0  # inside <style>/<script>

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        attrs = dict(attrs)
        for name, value in attrs.items():
            if value and (name in VISIBLE_ATTRIBUTES or (name == "value" and (
                    tag == "button" or (tag == "input" and attrs.get("type") in BUTTON_INPUTS)))):
                self.found.append((self.getpos()[0], value))

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.found.append((self.getpos()[0], data))


def visible_text(markup: str) -> list[tuple[int, str]]:
    parser = _TextCollector()
    parser.feed(markup)
    parser.close()
    return parser.found


def template_problems() -> list[str]:
    problems = []
    for path in template_files():
        rel = rel_path(path)
        if rel in ALLOWED_FILES:
            continue
        source = path.read_text(encoding="utf-8")
        for lineno, text in visible_text(template_markup(source)):
            if is_text(text):
                problems.append(f"{rel}:{lineno}: {short(text)!r}")
        for lineno, literal in template_strings(source):
            problems.append(f"{rel}:{lineno}: string {literal!r}")
    return problems


def short(text: str) -> str:
    return " ".join(text.replace(MARK, "…").split())[:90]


# == Python: no literal shown to a user outside _() ==================================================
# Calls whose first positional argument (and these keywords) a user reads.
SHOWN_FIRST_ARG = {"flash", "ValidationError", "StopValidation", "Markup", "Response", "make_response",
                   "Refused"}  # attachments.content.Refused: its message goes to the form
SHOWN_KEYWORDS = {"label", "description", "message", "blank", "placeholder", "title", "default_label"}


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _is_gettext_call(node) -> bool:
    return isinstance(node, ast.Call) and _call_name(node) in GETTEXT_NAMES


def _shown_expressions(tree: ast.AST):
    """(expression, why) for every expression whose value the code shows to a user."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _is_gettext_call(node) or _call_name(node) in CLI_CALLS:
            continue
        name = _call_name(node)
        if name in SHOWN_FIRST_ARG and node.args:
            yield node.args[0], f"{name}()"
        if name == "append" and node.args and isinstance(node.func.value, ast.Attribute) \
                and node.func.value.attr.endswith("errors"):  # form.field.errors.append(...)
            yield node.args[0], "errors.append()"
        if name == "abort":
            yield from ((arg, "abort() description") for arg in node.args[1:])
        if name.endswith("Field") and node.args:  # WTForms: the label
            yield node.args[0], f"{name} label"
        if name == "render_template":  # a value a page prints: purpose="…", heading="…"
            yield from ((kw.value, f"render_template({kw.arg}=)") for kw in node.keywords
                        if isinstance(kw.value, ast.Constant) and _looks_like_prose(str(kw.value.value)))
        if name == "options" and node.args:  # choices.options(pairs, blank=...)
            yield node.args[0], "options() labels"
        for kw in node.keywords:
            if kw.arg in SHOWN_KEYWORDS:
                yield kw.value, f"{name}({kw.arg}=)"
            elif kw.arg == "choices":
                yield kw.value, f"{name}(choices=)"
            elif kw.arg == "render_kw" and isinstance(kw.value, ast.Dict):
                for key, value in zip(kw.value.keys, kw.value.values):
                    if isinstance(key, ast.Constant) and key.value in VISIBLE_ATTRIBUTES:
                        yield value, f"render_kw {key.value}"
            elif kw.arg == "validators" and isinstance(kw.value, (ast.List, ast.Tuple)):
                for validator in kw.value.elts:  # DataRequired("Say it.") / Length(message=...)
                    if isinstance(validator, ast.Call) and validator.args \
                            and _call_name(validator) in ("DataRequired", "InputRequired"):
                        yield validator.args[0], f"{_call_name(validator)}() message"


class SourceModule:
    """One source file: its top-level names (for following ``flash(MESSAGE)`` to MESSAGE)."""

    def __init__(self, path: Path, source: str | None = None):
        self.path = path
        self.rel = rel_path(path)
        self.tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
        self.names: dict[str, ast.AST] = {}
        self.imports: dict[str, tuple[str, str]] = {}  # local name -> (module file, name)
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.names[target.id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                self.names[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                for alias in node.names:
                    module = base.joinpath(*(node.module or "").split(".")) if node.module else base
                    self.imports[alias.asname or alias.name] = (str(module), alias.name)


def _literals(node: ast.AST, module: SourceModule, modules: dict, seen: set):
    """(module, literal) for the string literals ``node`` can evaluate to without passing through
    gettext: constants, f-strings, containers of them (dict values, (value, label) pairs), and the
    module-level names it refers to (in this module or one it imports from)."""
    def inner(child):
        return _literals(child, module, modules, seen)

    if node is None or _is_gettext_call(node):
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield module, node
    elif isinstance(node, ast.JoinedStr):
        if any(isinstance(v, ast.Constant) and LETTER.search(v.value) for v in node.values):
            yield module, node
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from inner(value)
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        for elt in node.elts:
            is_pair = isinstance(elt, ast.Tuple) and len(elt.elts) == 2  # (value, label)
            yield from inner(elt.elts[1] if is_pair else elt)
    elif isinstance(node, ast.IfExp):
        yield from inner(node.body)
        yield from inner(node.orelse)
    elif isinstance(node, ast.BinOp):  # "a" + "b", MESSAGE % values
        yield from inner(node.left)
        if isinstance(node.op, ast.Add):
            yield from inner(node.right)
    elif isinstance(node, ast.Subscript):  # MESSAGES[problem]
        yield from inner(node.value)
    elif isinstance(node, ast.Call) and _call_name(node) in ("options", "dict", "str"):
        for arg in node.args:
            yield from inner(arg)
        for kw in node.keywords:
            if kw.arg == "blank":
                yield from inner(kw.value)
    elif isinstance(node, ast.Name):
        yield from _follow(module, node.id, modules, seen)
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):  # content.UNSAFE_NAME
        target = module.imports.get(node.value.id)
        if target:
            other = modules.get(f"{target[0]}/{target[1]}.py") or modules.get(f"{target[0]}.py")
            if other is not None:
                yield from _follow(other, node.attr, modules, seen)


def _follow(module: SourceModule, name: str, modules: dict, seen: set):
    key = (module.rel, name)
    if key in seen or key in ALLOWED_NAMES:
        return
    seen.add(key)
    if name in module.names:
        yield from _literals(module.names[name], module, modules, seen)
    elif name in module.imports:
        path, original = module.imports[name]
        other = modules.get(f"{path}.py")
        if other is not None:
            yield from _follow(other, original, modules, seen)


def _literal_text(node) -> str:
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(v.value if isinstance(v, ast.Constant) else "{…}" for v in node.values)


@functools.lru_cache(maxsize=None)  # parsed once for the tests that read them
def python_modules() -> dict:
    return {str(p.with_suffix("")) + ".py": SourceModule(p) for p in _python_files()}


def _cjk_outside_gettext(module: SourceModule):
    """Chinese literals not passed to gettext (not docstrings): Chinese on the English screen."""
    wrapped = set()
    docstrings = set()
    for node in ast.walk(module.tree):
        if _is_gettext_call(node):
            wrapped |= {id(n) for arg in node.args for n in ast.walk(arg)}
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            docstrings.add(id(node.body[0].value))
    allowed = {id(n) for (rel, name) in ALLOWED_NAMES if rel == module.rel and name in module.names
               for n in ast.walk(module.names[name])}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and CJK.search(node.value) \
                and id(node) not in wrapped | docstrings | allowed:
            yield node


EXPORT_FUNCTION = re.compile(r"(_table|_notes|_about|_labels|_headers?)$")
# Module-level tables of interface text (KIND_LABELS, AGE_MESSAGES, _ERROR_TITLES, REFUSALS...).
TEXT_TABLE = re.compile(r"(LABELS|MESSAGES|TITLES|ERRORS|FIGURES|REFUSALS|DIMENSIONS|LEVELS|MESSAGE)$")


def _export_cells(tree: ast.AST):
    """Literal cells and sheet titles of the CSV/XLSX/PDF tables: in functions that build a table
    (``summary_table``, ``_about``, ``_medical_labels``...) or call to_csv()/to_xlsx() themselves."""
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        exports = any(isinstance(n, ast.Call) and _call_name(n) in ("to_csv", "to_xlsx") for n in ast.walk(function))
        if not (exports or EXPORT_FUNCTION.search(function.name)):
            continue
        wrapped = {id(n) for call in ast.walk(function) if _is_gettext_call(call) for n in ast.walk(call)}
        wrapped |= {id(n) for call in ast.walk(function) if isinstance(call, ast.Call)  # HTTP headers
                    for kw in call.keywords if kw.arg == "headers" for n in ast.walk(kw.value)}
        for node in ast.walk(function):
            parts = node.elts if isinstance(node, (ast.List, ast.Tuple)) else \
                [*node.keys, *node.values] if isinstance(node, ast.Dict) else []
            for part in parts:
                if isinstance(part, ast.Constant) and isinstance(part.value, str) and id(part) not in wrapped \
                        and _looks_like_prose(part.value):
                    yield part, f"{function.name}() cell"


def module_problems(module: SourceModule, modules: dict) -> set[str]:
    problems = set()
    if module.rel in ALLOWED_FILES:
        return problems
    for expression, why in _shown_expressions(module.tree):
        for owner, lit in _literals(expression, module, modules, set()):
            text = _literal_text(lit)
            if is_text(text) and owner.rel not in ALLOWED_FILES:
                problems.add(f"{owner.rel}:{lit.lineno}: {why}: {text[:90]!r}")
    for name in module.names:
        if TEXT_TABLE.search(name):
            for owner, lit in _follow(module, name, modules, set()):
                text = _literal_text(lit)  # prose, not the codes such tables are keyed or paired with
                if _looks_like_prose(text) and owner.rel not in ALLOWED_FILES:
                    problems.add(f"{owner.rel}:{lit.lineno}: {name}: {text[:90]!r}")
    for lit, why in _export_cells(module.tree):
        problems.add(f"{module.rel}:{lit.lineno}: {why}: {lit.value[:90]!r}")
    for lit in _cjk_outside_gettext(module):
        problems.add(f"{module.rel}:{lit.lineno}: Chinese literal outside _(): {lit.value[:60]!r}")
    return problems


# == pages in the default language ==================================================================
def english_messages(catalogue) -> re.Pattern:
    """One pattern for every msgid whose Chinese differs from it (so its English showing means the
    catalogue was not used), without %(placeholders)s (those are checked with their values)."""
    ids = []
    for message in catalogue:
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        translated = message.string[0] if isinstance(message.string, tuple) else message.string
        if msgid and translated and translated != msgid and "%" not in msgid and re.search("[A-Za-z]{3}", msgid):
            ids.append(msgid)
    ids.sort(key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(i) for i in ids) + r")(?![\w-])")


def english_on(page_html: str, english: re.Pattern):
    """(catalogue message, the text it shows in) for each catalogue message shown in English."""
    for _line, node in visible_text(page_html):
        text = " ".join(node.split())
        for match in english.finditer(text):
            yield match.group(0), text
