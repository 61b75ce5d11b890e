"""A small KFP v2beta1 REST host on 127.0.0.1 that keeps state and records every request.

It implements the endpoints kfp.Client calls for an upload and a recurring run (read from
kfp/client/client.py and kfp_server_api/api/*): healthz; list pipelines; upload a pipeline or a
version (multipart, as the real server: the first version copies the pipeline's name and
description); list versions; list/create experiments; list/create/delete recurring runs. Any other
request is answered 404 and recorded, so a test sees it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.parser
import email.policy
import http.server
import itertools
import json
import threading
import urllib.parse
from collections.abc import Iterator

import yaml

API = "/apis/v2beta1"


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict
    body: object


@dataclasses.dataclass
class HostState:
    pipelines: dict = dataclasses.field(default_factory=dict)
    versions: dict = dataclasses.field(default_factory=dict)
    experiments: dict = dataclasses.field(default_factory=dict)
    recurring_runs: dict = dataclasses.field(default_factory=dict)
    requests: list = dataclasses.field(default_factory=list)
    ids: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(1))

    def new_id(self, kind: str) -> str:
        return f"{kind}-{next(self.ids)}"

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]


def _display_name_filter(query: dict) -> str | None:
    if "filter" not in query:
        return None
    predicates = json.loads(query["filter"])["predicates"]
    assert predicates[0]["key"] == "display_name", predicates
    return predicates[0]["stringValue"]


def _multipart_file(content_type: str, body: bytes) -> bytes:
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            return part.get_payload(decode=True)
    raise AssertionError("no uploadfile part in the upload")


class _Handler(http.server.BaseHTTPRequestHandler):
    state: HostState

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/"):
            body = _multipart_file(content_type, raw).decode()
        else:
            body = json.loads(raw) if raw else None
        self.state.requests.append(Request(method, url.path, query, body))
        code, payload = self._route(method, url.path.removeprefix(API), query, body)
        self._reply(code, payload)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _route(self, method: str, path: str, query: dict, body: object) -> tuple[int, object]:
        s = self.state
        parts = path.strip("/").split("/")
        if (method, path) == ("GET", "/healthz"):
            return 200, {"multi_user": False}
        if (method, path) == ("GET", "/pipelines"):
            name = _display_name_filter(query)
            found = [p for p in s.pipelines.values() if name in (None, p["display_name"])]
            return 200, {"pipelines": found, "total_size": len(found)}
        if (method, path) == ("POST", "/pipelines/upload"):
            pipeline_id = s.new_id("pipeline")
            s.pipelines[pipeline_id] = {
                "pipeline_id": pipeline_id,
                "display_name": query["name"],
                "name": query["name"],
                "description": query.get("description", ""),
            }
            self._add_version(pipeline_id, query["name"], query.get("description", ""), body)
            return 200, s.pipelines[pipeline_id]
        if (method, path) == ("POST", "/pipelines/upload_version"):
            if query.get("pipelineid") not in s.pipelines:
                return 404, {"error_message": f"no pipeline {query.get('pipelineid')}"}
            version = self._add_version(
                query["pipelineid"], query["name"], query.get("description", ""), body
            )
            return 200, version
        if (
            method == "GET"
            and len(parts) == 3
            and parts[0] == "pipelines"
            and parts[2] == "versions"
        ):
            found = [v for v in s.versions.values() if v["pipeline_id"] == parts[1]]
            return 200, {"pipeline_versions": found, "total_size": len(found)}
        if (method, path) == ("GET", "/experiments"):
            name = _display_name_filter(query)
            found = [e for e in s.experiments.values() if name in (None, e["display_name"])]
            return 200, {"experiments": found, "total_size": len(found)}
        if (method, path) == ("POST", "/experiments"):
            experiment_id = s.new_id("experiment")
            s.experiments[experiment_id] = {**body, "experiment_id": experiment_id}
            return 200, s.experiments[experiment_id]
        if (method, path) == ("GET", "/recurringruns"):
            name = _display_name_filter(query)
            found = [
                r
                for r in s.recurring_runs.values()
                if name in (None, r["display_name"])
                and query.get("experiment_id") in (None, r["experiment_id"])
            ]
            # The one list whose field the real API names in camelCase (and kfp_server_api too).
            return 200, {"recurringRuns": found, "total_size": len(found)}
        if (method, path) == ("POST", "/recurringruns"):
            run_id = s.new_id("recurring-run")
            s.recurring_runs[run_id] = {**body, "recurring_run_id": run_id, "status": "ENABLED"}
            return 200, s.recurring_runs[run_id]
        if method == "DELETE" and len(parts) == 2 and parts[0] == "recurringruns":
            if s.recurring_runs.pop(parts[1], None) is None:
                return 404, {"error_message": f"no recurring run {parts[1]}"}
            return 200, {}
        return 404, {"error_message": f"not implemented: {method} {path}"}

    def _add_version(self, pipeline_id: str, name: str, description: str, text: str) -> dict:
        version_id = self.state.new_id("version")
        self.state.versions[version_id] = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": version_id,
            "display_name": name,
            "name": name,
            "description": description,
            "pipeline_spec": next(yaml.safe_load_all(text)),
        }
        return self.state.versions[version_id]


@contextlib.contextmanager
def serve_kfp_host() -> Iterator[tuple[str, HostState]]:
    """Run the host on an ephemeral loopback port; yield its URL and its state."""
    state = HostState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
