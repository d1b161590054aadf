import io
import json
from wsgiref.util import setup_testing_defaults

from analytics import db
from analytics.http_api import make_app


def call(db_file, path, query=""):
    app = make_app(lambda: db.connect(db_file))
    environ = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD="GET")
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_health(db_file):
    status, _, body = call(db_file, "/health")
    assert status == "200 OK"
    assert json.loads(body) == {"status": "ok", "customers": 60}


def test_reports(db_file):
    status, _, body = call(db_file, "/reports/active_users", "as_of=2024-06-30")
    assert status == "200 OK"
    assert json.loads(body)["as_of"] == "2024-06-30"
    assert call(db_file, "/reports/nope")[0].startswith("404")
    assert call(db_file, "/reports/active_users", "as_of=yesterday")[0].startswith("400")


def test_exports(db_file):
    status, _, body = call(db_file, "/exports")
    assert "plan_mix" in [e["name"] for e in json.loads(body)]
    status, headers, body = call(db_file, "/exports/plan_mix", "format=csv")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/csv")
    assert body.decode().splitlines()[0] == "plan,status,customers,mrr_cents"
    status, _, body = call(db_file, "/exports/plan_mix")
    assert all(json.loads(line) for line in io.StringIO(body.decode()))
    assert call(db_file, "/exports/nope")[0].startswith("404")
