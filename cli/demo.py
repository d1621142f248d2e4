"""First-run content for the embedded default, so a fresh checkout has something to show.

Only used when no config is given: it writes a sample original and a placeholder into
the demo site if they are missing, and never touches anything else.
"""

from __future__ import annotations

import logging

import pyvips

from config import DEMO_SAMPLE, DEMO_SITE, Settings
from layouts import Router
from storage import open_storage

log = logging.getLogger("mediaproxy.demo")


def sample_jpeg(width: int = 1600, height: int = 1200, hue: float = 0.0) -> bytes:
    """A smooth, colourful test card: enough detail that resizing visibly works."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0] / width, xy[1] / height
    red = (x * 255 + hue) % 256
    green = y * 255
    blue = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.09).ifthenelse(230, 60)
    image = red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")
    data: bytes = image.jpegsave_buffer(Q=90)
    return data


async def seed_demo(settings: Settings, router: Router, base_url: str) -> None:
    layout = router.layouts.get(DEMO_SITE)
    if layout is None:
        return
    storage = await open_storage(settings.storage)
    try:
        samples = {layout.original_key(DEMO_SAMPLE): sample_jpeg()}
        if layout.site.placeholder:
            samples[layout.original_key(layout.site.placeholder)] = sample_jpeg(800, 800, hue=128)
        for key, data in samples.items():
            if await storage.head(key) is None:
                await storage.put(key, data, content_type="image/jpeg")
                log.info("demo: wrote %s", key)
    finally:
        await storage.close()
    log.info("try: curl -o /tmp/x.jpg %s/%s", base_url, layout.sizes[0].key(DEMO_SAMPLE))
