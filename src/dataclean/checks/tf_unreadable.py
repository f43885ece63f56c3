"""Images that TensorFlow's own decoders refuse (TIFF, PPM, ICO, JPEG 2000, some BMP and WebP, ...).

They are images all the same: Pillow decodes them, every metric and hash is computed, and the
trainer decodes exactly these rows (and every format but JPEG/PNG/GIF/BMP) through Pillow inside
its tf.data pipeline. The check says why, so that a user who feeds the files to TensorFlow
directly knows which ones would fail. Why is decided per file by dataclean.inspect.tf_unreadable_reason.
"""

from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check


@check("tf_unreadable", "info", "decodable images that tf.io.decode_image cannot read (the trainer reads them "
       "through Pillow): formats other than JPEG/PNG/GIF/BMP/WebP, compressed or OS/2 BMP, WebP with alpha or animation")
def tf_unreadable(ctx: AuditContext) -> list[Finding]:
    t = ctx.table
    if "tf_reason" not in t:
        return []
    return [Finding(row, 1.0, why) for row, (why, err) in enumerate(zip(t["tf_reason"], t["error"])) if why and not err]
