from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.checks.files import FORMAT_EXTENSIONS, extension, file_name, is_image_name, is_system_file
from dataclean.text import is_utf8


@check("naming", "warning", "extension that does not match the real format, non-image files, hidden/system files")
def naming(ctx: AuditContext) -> list[Finding]:
    t = ctx.table
    out = []
    for row, (path, fmt, code) in enumerate(zip(t["path"], t["format"], t["error"])):
        name = file_name(path)
        ext = extension(name)
        allowed = FORMAT_EXTENSIONS.get(fmt)
        if is_system_file(name):
            out.append(Finding(row, 1.0, "hidden or system file"))
        elif code == "not_an_image" and not is_image_name(name):
            out.append(Finding(row, 1.0, f"non-image file ({ext or 'no extension'})"))
        elif allowed is not None and ext not in allowed:
            out.append(Finding(row, 1.0, f"extension {ext or '(none)'} but the content is {fmt}"))
        elif not path.isascii() and not is_utf8(path):
            out.append(Finding(row, 1.0, "file name is not valid UTF-8"))
        elif not path.isprintable() or name != name.strip():
            out.append(Finding(row, 1.0, "file name has control characters or surrounding spaces"))
    return out

