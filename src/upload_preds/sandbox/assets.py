"""Assets: ``POST /assets/`` and the S3-like storage the presigned upload goes to.

``POST /assets/ {"filename"}`` answers as the platform does: an asset uuid,
the URL the file will be served from, and ``presignedPostFields`` for a
multipart POST to ``/_storage/upload/`` that needs no key (like S3) but carries
a policy signed with the store's secret, checked like S3 checks it. The file is
served from ``/_storage/assets/{uuid}/{filename}`` as what its bytes are (PNG
or JPEG by their signature, anything else ``application/octet-stream``), never
as the type the uploader claimed, always with ``X-Content-Type-Options:
nosniff``: an HTML file uploaded as an asset cannot become a page on the
sandbox's origin (which also serves the review page).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes
import time
import uuid
from urllib.parse import quote

from upload_preds.sandbox.bodies import FilePart, parse_multipart
from upload_preds.sandbox.routing import (
    SMALL_BODY,
    Request,
    Response,
    Router,
    bad_request,
    json_response,
    read_json,
)
from upload_preds.sandbox.store import Store

STORAGE_PREFIX = "/_storage/"
#: The largest asset upload (a high-resolution segmentation bitmap is a few MiB).
ASSET_BODY = 64 * 1024 * 1024

#: Leading bytes → the type served; what is not recognised is served as bytes.
SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def sniff(data: bytes) -> str:
    """The content type ``data`` is served with: PNG, JPEG or ``application/octet-stream``."""
    for magic, ctype in SIGNATURES:
        if data.startswith(magic):
            return ctype
    return "application/octet-stream"


class AssetRoutes:
    """Asset creation, the presigned upload, and serving the stored file."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_routes(self, r: Router) -> None:
        r.add("POST", "/assets/", self.add_asset, SMALL_BODY)
        r.add("POST", STORAGE_PREFIX + "upload/", self.storage_upload, ASSET_BODY)
        r.add("GET", STORAGE_PREFIX + "assets/{uuid}/{filename}", self.storage_get)

    def _sign(self, data: str) -> str:
        key = self.store.storage_secret.encode()
        return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()

    def add_asset(self, request: Request) -> Response:
        body = read_json(request)
        filename = body.get("filename") if isinstance(body, dict) else None
        if not isinstance(filename, str) or not filename or "/" in filename:
            return bad_request({"filename": ["A file name without '/' is required."]})
        asset_uuid = str(uuid.uuid4())
        created = self.store.add_asset(asset_uuid, filename)
        self.store.commit()
        origin = request.origin
        key = f"assets/{asset_uuid}/{filename}"
        policy = base64.b64encode(
            json.dumps({"key": key, "expiration": time.time() + 3600}).encode()
        ).decode()
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        fields = {
            "acl": "public-read",
            "Content-Type": ctype,
            "key": key,
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": "SANDBOX/sandbox/s3/aws4_request",
            "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "policy": policy,
            "x-amz-signature": self._sign(policy),
        }
        return json_response(
            {
                "uuid": asset_uuid,
                "filename": filename,
                "url": f"{origin}{STORAGE_PREFIX}assets/{asset_uuid}/{quote(filename)}",
                "created_at": created,
                "presignedPostFields": {
                    "url": f"{origin}{STORAGE_PREFIX}upload/",
                    "fields": fields,
                },
            },
            201,
        )

    def storage_upload(self, request: Request) -> Response:
        """The presigned multipart POST, checked like S3 checks its policy signature."""
        try:
            form = parse_multipart(request.body, request.headers.get("content-type", ""))
        except ValueError as e:
            return _s3_error(400, "MalformedPOSTRequest", str(e))
        policy, signature, key = form.get("policy"), form.get("x-amz-signature"), form.get("key")
        upload = form.get("file")
        if not (isinstance(policy, str) and isinstance(signature, str) and isinstance(key, str)):
            return _s3_error(400, "InvalidArgument", "policy, x-amz-signature and key are required")
        if not hmac.compare_digest(self._sign(policy), signature):
            return _s3_error(403, "SignatureDoesNotMatch", "The signature does not match")
        try:
            signed = json.loads(base64.b64decode(policy))
        except ValueError:
            return _s3_error(400, "InvalidPolicyDocument", "The policy is not valid")
        if signed.get("key") != key or signed.get("expiration", 0) < time.time():
            return _s3_error(403, "AccessDenied", "Policy expired or key does not match")
        if not isinstance(upload, FilePart):
            return _s3_error(400, "InvalidArgument", "a 'file' part is required")
        asset_uuid = key.split("/")[1]
        ctype = form.get("Content-Type")
        self.store.store_asset_data(
            asset_uuid, ctype if isinstance(ctype, str) else None, upload.data
        )
        self.store.commit()
        return Response(status=204, content_type=None)

    def storage_get(self, request: Request) -> Response:
        asset = self.store.asset(request.match_info["uuid"])
        if asset is None or asset[2] is None or asset[0] != request.match_info["filename"]:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        # Served as what the bytes are, not as the type the uploader chose: a stored
        # HTML file must never render as a page on this origin.
        data: bytes = asset[2]
        return Response(
            data, content_type=sniff(data), headers={"X-Content-Type-Options": "nosniff"}
        )


def _s3_error(status: int, code: str, message: str) -> Response:
    # S3's error shape, so a client's S3 error handling sees what it expects.
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response.text(body, status, "application/xml")
