"""Where the review page finds a sample's pictures: images, point clouds, frames and sensors.

:func:`sample_media` turns a sample's attributes into the URLs the page
loads, one entry per frame for sequences and one list of frames per sensor
for multi-sensor samples:

* an image (``image.url``) relative to the manifest's folder is served under
  ``/_review/media/``; an absolute URL is passed on unchanged;
* a point cloud (``pcd.url``) relative to the manifest's folder is served,
  read and subsampled, under ``/_review/points/`` (:mod:`.pointclouds`); an
  absolute one cannot be read by the page (its CSP allows requests to the
  sandbox only, and the sandbox fetches nothing), so the page draws the
  label's shapes without the points.

The shape of the answer::

    {"image_url": str | None, "points_url": str | None,
     "frames": [{"image_url", "points_url", "timestamp"}] | None,
     "sensors": [{"name", "task_type", "frames": [...]}] | None}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

REVIEW_PREFIX = "/_review/"


def _local(url: Any) -> str | None:
    """A relative URL of the manifest's folder, or None."""
    if not isinstance(url, str) or not url:
        return None
    if "://" in url or url.startswith(("/", "data:")):
        return None
    return url


def image_link(url: Any) -> str | None:
    """The URL the page loads an image from."""
    if not isinstance(url, str) or not url:
        return None
    rel = _local(url)
    return url if rel is None else REVIEW_PREFIX + "media/" + quote(rel)


def points_link(url: Any) -> str | None:
    """The URL the page loads a point cloud's x/y from (None: not readable here)."""
    rel = _local(url)
    return None if rel is None else REVIEW_PREFIX + "points/" + quote(rel)


def _url_of(obj: Any, key: str) -> Any:
    inner = obj.get(key) if isinstance(obj, dict) else None
    return inner.get("url") if isinstance(inner, dict) else None


def _frames(attributes: Any) -> list[dict[str, Any]] | None:
    frames = attributes.get("frames") if isinstance(attributes, dict) else None
    if not isinstance(frames, list):
        return None
    return [
        {
            "image_url": image_link(_url_of(f, "image")),
            "points_url": points_link(_url_of(f, "pcd")),
            "timestamp": f.get("timestamp") if isinstance(f, dict) else None,
        }
        for f in frames
    ]


def sample_media(attributes_json: str) -> dict[str, Any]:
    """The page's URLs for a sample (see the module docstring)."""
    attrs = orjson.loads(attributes_json)
    if not isinstance(attrs, dict):
        attrs = {}
    frames = _frames(attrs)
    sensors = None
    if isinstance(attrs.get("sensors"), list):
        sensors = [
            {
                "name": s.get("name"),
                "task_type": s.get("task_type"),
                "frames": _frames(s.get("attributes")) or [],
            }
            for s in attrs["sensors"]
            if isinstance(s, dict)
        ]
    image = image_link(_url_of(attrs, "image"))
    if image is None and frames:
        image = frames[0]["image_url"]
    return {
        "image_url": image,
        "points_url": points_link(_url_of(attrs, "pcd")),
        "frames": frames,
        "sensors": sensors,
    }
