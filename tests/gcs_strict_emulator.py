"""gcp-storage-emulator with GCS's ``ifGenerationMatch`` precondition on uploads.

Real GCS refuses an upload whose ``ifGenerationMatch`` is not the object's live generation
(0: the object must not exist) with 412 conditionNotMet; the emulator ignores the parameter.
Push's compare-and-swap of LATEST relies on that precondition, so its tests run this: the same
emulator (in memory, single-threaded, so the check and the write are one step), whose upload
handler first applies the precondition as GCS documents it. Nothing else changes.

python tests/gcs_strict_emulator.py HOST PORT
"""

from __future__ import annotations

import sys
from http import HTTPStatus

from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

_insert = objects.insert


def _name(request) -> str | None:
    if "name" in request.query:
        return request.query["name"][0]
    data = request.data
    if isinstance(data, dict):
        meta = data.get("meta", data)
        return meta.get("name") if isinstance(meta, dict) else None
    return None


def insert(request, response, storage, *args, **kwargs):
    """The emulator's upload, refused with 412 unless ``ifGenerationMatch`` holds."""
    wanted = request.query.get("ifGenerationMatch")
    name = _name(request)
    if wanted and name is not None:
        try:
            live = str(storage.get_file_obj(request.params["bucket_name"], name)["generation"])
        except NotFound:
            live = "0"
        if live != wanted[0]:
            response.status = HTTPStatus.PRECONDITION_FAILED
            response.json(
                {
                    "error": {
                        "code": 412,
                        "message": "At least one of the pre-conditions you specified did not hold.",
                        "errors": [{"reason": "conditionNotMet", "domain": "global"}],
                    }
                }
            )
            return None
    return _insert(request, response, storage, *args, **kwargs)


def main() -> None:
    """Serve on ``HOST PORT`` (argv) until killed."""
    objects.insert = insert
    from gcp_storage_emulator.server import create_server  # routes bind objects.insert now

    host, port = sys.argv[1], int(sys.argv[2])
    create_server(host, port, in_memory=True).run()


if __name__ == "__main__":
    main()
